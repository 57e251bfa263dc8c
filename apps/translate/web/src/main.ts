/**
 * The page: starts a backend, loads the shipped numbers checkpoint from the page's own static
 * files, translates what is typed and draws the attention of the translation.
 */
import * as tf from '@tensorflow/tfjs';
import checkpointUrl from '../../checkpoints/numbers.ckpt?url';
import { checkInput, encoderAttention, translatorFromBytes } from '../../src/browser.js';
import { MAX_NUMBER, numberPair } from '../../src/data/numbers.js';
import { type Translation, type Translator, averageHeads } from '../../src/translator.js';
import { requestedBackend, startBackend } from './backend.js';
import { type HeatmapData, HeatmapView } from './heatmap-view.js';

/** Milliseconds since navigation start, for the page and for tests (`window.attnkit`). */
interface Timings {
  backend?: number;
  model?: number;
  firstTranslation?: number;
  /** Duration of the latest translation (decoding and encoder attention), in ms. */
  lastTranslationMs?: number;
}

interface PageState {
  backend: string | null;
  timings: Timings;
  /** Number of translations shown so far. */
  translations: number;
  error: string | null;
}

declare global {
  interface Window {
    attnkit: PageState;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const input = $<HTMLInputElement>('input');
const button = $<HTMLButtonElement>('translate');
const message = $('message');
const output = $<HTMLOutputElement>('output');
const sourceInfo = $('source-info');
const viewSelect = $<HTMLSelectElement>('view');
const layerSelect = $<HTMLSelectElement>('layer');
const headSelect = $<HTMLSelectElement>('head');
const heatmap = new HeatmapView($<HTMLTableElement>('heatmap'), $('focus-row'));

const state: PageState = { backend: null, timings: {}, translations: 0, error: null };
window.attnkit = state;
const since = () => Math.round(performance.now());

/** What the model reads for an input: digits become English words; other text is used as typed. */
function sourceOf(text: string): { words: string; reference: string | null; note: string } | { refusal: string } {
  const digits = text.trim().replace(/[\s,_]/g, '');
  if (/^\d+$/.test(digits)) {
    const n = Number(digits);
    if (n > MAX_NUMBER) return { refusal: `${text.trim()} is too large: this page spells numbers up to ${MAX_NUMBER.toLocaleString('en')}.` };
    const pair = numberPair(n);
    const range = n > 9999 ? ' The model was trained on 0 to 9 999 only, so expect mistakes.' : '';
    return { words: pair.en, reference: pair.de, note: `${n} in English words: “${pair.en}”.${range}` };
  }
  const pair = lookupWords(text);
  return { words: text, reference: pair?.de ?? null, note: pair ? `“${pair.en}” is ${pair.n}.` : '' };
}

/** English words of 0..9999 → their pair, built on first use (for the reference translation). */
let byWords: Map<string, ReturnType<typeof numberPair>> | null = null;
function lookupWords(text: string) {
  byWords ??= new Map(Array.from({ length: 10_000 }, (_, n) => numberPair(n)).map((p) => [p.en, p]));
  return byWords.get(text.trim().toLowerCase().replace(/\s+/g, ' ')) ?? null;
}

let translator: Translator | null = null;
let current: { translation: Translation; encoder: Awaited<ReturnType<typeof encoderAttention>> } | null = null;

function showMessage(text: string, kind: 'error' | 'info' = 'error'): void {
  message.textContent = text;
  message.className = kind;
}

let busy = false;

async function translate(): Promise<void> {
  if (!translator || busy) return;
  const text = input.value;
  const source = sourceOf(text);
  if ('refusal' in source) return showMessage(source.refusal);
  const check = checkInput(translator, source.words);
  if (check.refusal) return showMessage(check.refusal);
  showMessage('Translating…', 'info');
  busy = true;
  button.disabled = true;
  await tf.nextFrame(); // let the message paint before the model runs
  const started = performance.now();
  try {
    const [translation] = await translator.translateAsync([source.words], { returnAttention: true });
    current = { translation: translation!, encoder: await encoderAttention(translator, source.words) };
    output.value = translation!.output;
    const verdict = source.reference === null ? '' : translation!.output === source.reference ? ' Matches the reference ✓.' : ` The reference is “${source.reference}” ✗.`;
    sourceInfo.textContent = `${source.note}${verdict}`.trim();
    $('result').hidden = false;
    $('attention').hidden = false;
    drawHeatmap();
    showMessage('', 'info');
    state.timings.lastTranslationMs = Math.round(performance.now() - started);
    state.translations += 1;
    state.timings.firstTranslation ??= since();
    showTimings();
  } catch (error) {
    showMessage(`Translation failed: ${(error as Error).message}`);
  } finally {
    busy = false;
    button.disabled = false;
  }
}

function drawHeatmap(): void {
  if (!current) return;
  const { translation: t, encoder } = current;
  const view = viewSelect.value as 'cross' | 'decoder' | 'encoder';
  const perLayer = view === 'cross' ? t.cross! : view === 'decoder' ? t.self! : encoder.weights;
  const layer = Math.min(Number(layerSelect.value), perLayer.length - 1);
  const heads = perLayer[layer]!;
  const head = headSelect.value;
  const weights = head === 'average' ? averageHeads(heads) : heads[Number(head)]!;
  const which = head === 'average' ? `average of ${heads.length} heads` : `head ${Number(head) + 1}`;
  const data: Record<typeof view, Omit<HeatmapData, 'weights'>> = {
    cross: { caption: 'Cross-attention', rowLabel: 'output tokens', columnLabel: 'source tokens', rows: t.targetTokens, columns: t.sourceTokens },
    decoder: { caption: 'Decoder self-attention', rowLabel: 'output tokens', columnLabel: 'earlier output tokens', rows: t.targetTokens, columns: t.targetTokens },
    encoder: { caption: 'Encoder self-attention', rowLabel: 'source tokens', columnLabel: 'source tokens', rows: encoder.sourceTokens, columns: encoder.sourceTokens },
  };
  const d = data[view];
  heatmap.render({ ...d, caption: `${d.caption}, layer ${layer + 1}, ${which}`, weights });
}

function fillSelect(select: HTMLSelectElement, options: [string, string][]): void {
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
}

function showTimings(): void {
  const t = state.timings;
  const parts = [
    t.backend !== undefined && `backend ready ${t.backend} ms`,
    t.model !== undefined && `model loaded ${t.model} ms`,
    t.firstTranslation !== undefined && `first translation ${t.firstTranslation} ms`,
  ].filter(Boolean);
  const last = t.lastTranslationMs !== undefined ? ` Latest translation took ${t.lastTranslationMs} ms.` : '';
  $('timings').textContent = `Since the page started loading: ${parts.join(', ')}.${last}`;
}

async function start(): Promise<void> {
  const backend = await startBackend(requestedBackend(location.search));
  state.backend = backend.name;
  state.timings.backend = since();
  const skipped = backend.skipped.length > 0 ? ` (not used: ${backend.skipped.join('; ')})` : '';
  $('backend').textContent = `Backend: ${backend.name} — ${backend.detail}${skipped}`;

  const response = await fetch(checkpointUrl);
  if (!response.ok) throw new Error(`the model ${checkpointUrl} could not be fetched: HTTP ${response.status}`);
  const loaded = translatorFromBytes(new Uint8Array(await response.arrayBuffer()), 'numbers.ckpt');
  translator = loaded.translator;
  state.timings.model = since();
  const c = translator.model.config;
  const m = loaded.metadata;
  const exact = Array.isArray(m.history) ? (m.history.at(-1) as { exact?: number } | undefined)?.exact : undefined;
  $('model-info').textContent =
    `Model: numbers.ckpt, ${c.numEncoderLayers} + ${c.numDecoderLayers} layers, ${c.numHeads} heads, d = ${c.dModel}, ` +
    `${translator.model.countParams().toLocaleString('en')} parameters, trained on ${m.trainingData.join(', ')}` +
    `${typeof m.step === 'number' ? ` for ${m.step} steps` : ''}${exact !== undefined ? ` (${exact}% exact on dev)` : ''}.`;

  fillSelect(layerSelect, Array.from({ length: c.numDecoderLayers }, (_, i) => [String(i), String(i + 1)]));
  fillSelect(headSelect, [['average', 'Average'], ...Array.from({ length: c.numHeads }, (_, i): [string, string] => [String(i), String(i + 1)])]);
  layerSelect.value = String(c.numDecoderLayers - 1);

  const query = new URLSearchParams(location.search).get('q');
  if (query) input.value = query;
  button.disabled = false;
  await translate();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void translate();
});
for (const example of document.querySelectorAll<HTMLButtonElement>('button.example')) {
  example.addEventListener('click', () => {
    input.value = example.textContent ?? '';
    void translate();
  });
}
for (const select of [viewSelect, layerSelect, headSelect]) select.addEventListener('change', drawHeatmap);

start().catch((error: Error) => {
  state.error = error.message;
  showMessage(`The page could not start: ${error.message}`);
});
