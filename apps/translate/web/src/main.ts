/**
 * The page: starts a backend, loads a checkpoint from the page's own static files (the sentence
 * model when it was built in, else the numbers model; `?model=ding|numbers` picks one), translates
 * what is typed and draws the attention of the translation. An error replaces the previous result.
 * Layers and heads are numbered from 1, as in the demo's report and the `translate` command.
 */
import * as tf from '@tensorflow/tfjs';
import models from 'virtual:attnkit-models';
import { checkInput, encoderAttention, translatorFromBytes } from '../../src/browser.js';
import { BANK_SENTENCES, inputNotes, layerName, numbersSource, outputNotes, wordTokens, wordWeight } from '../../src/explain.js';
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

type ModelName = 'ding' | 'numbers';

interface PageState {
  backend: string | null;
  /** The model in use. */
  model: ModelName | null;
  /** Models this build of the page holds. */
  models: ModelName[];
  timings: Timings;
  /** Number of translations shown so far. */
  translations: number;
  /** Number of inputs refused or failed so far (each replaced the result with a message). */
  errors: number;
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
const notesList = $<HTMLUListElement>('notes');
const bankInfo = $('bank-info');
const modelSelect = $<HTMLSelectElement>('model');
const viewSelect = $<HTMLSelectElement>('view');
const layerSelect = $<HTMLSelectElement>('layer');
const headSelect = $<HTMLSelectElement>('head');
const heatmap = new HeatmapView($<HTMLTableElement>('heatmap'), $('focus-row'));

const available: ModelName[] = models.ding ? ['ding', 'numbers'] : ['numbers'];
const state: PageState = { backend: null, model: null, models: available, timings: {}, translations: 0, errors: 0, error: null };
window.attnkit = state;
const since = () => Math.round(performance.now());

const MODELS: Record<ModelName, { file: string; label: string; inputLabel: string; examples: string[]; first: string }> = {
  ding: {
    file: 'ding/model.ckpt',
    label: 'Sentences (Ding examples, GPL-2.0-or-later)',
    inputLabel: 'An English sentence',
    examples: BANK_SENTENCES.map((s) => s.text),
    first: BANK_SENTENCES[0].text,
  },
  numbers: {
    file: 'numbers.ckpt',
    label: 'Numbers (0 to 9 999, MIT)',
    inputLabel: 'A number (digits) or English number words, 0 to 9 999',
    examples: ['29', 'one hundred seventeen', 'eight thousand ninety-two'],
    first: 'four thousand seven hundred twenty-one',
  },
};

/** What the model reads for an input: the numbers model spells digits out; the sentence model reads the text. */
function sourceOf(text: string): { words: string; reference: string | null; note: string } | { refusal: string } {
  if (state.model === 'numbers') return numbersSource(text);
  return { words: text, reference: null, note: '' };
}

let translator: Translator | null = null;
let current: { translation: Translation; encoder: Awaited<ReturnType<typeof encoderAttention>> } | null = null;

function showMessage(text: string, kind: 'error' | 'info' = 'error'): void {
  message.textContent = text;
  message.className = kind;
}

/** An error replaces the previous result: the message stays, the translation and its attention go. */
function showError(text: string): void {
  current = null;
  output.value = '';
  sourceInfo.textContent = '';
  notesList.replaceChildren();
  bankInfo.textContent = '';
  $('result').hidden = true;
  $('attention').hidden = true;
  heatmap.render({ caption: '', rowLabel: '', columnLabel: '', rows: [], columns: [], weights: [] });
  showMessage(text, 'error');
  state.errors += 1;
}

/** For a sentence with "bank" and "money" or "river": how much the encoder's "bank" attends to it, per layer (mean of heads). */
function bankLine(text: string, encoder: { weights: number[][][][] }): string {
  if (!translator) return '';
  const encoding = translator.encodeSource(text);
  const bank = wordTokens(encoding, 'bank');
  const context = ['money', 'river'].find((w) => wordTokens(encoding, w).length > 0);
  if (bank.length === 0 || !context) return '';
  const to = wordTokens(encoding, context);
  const parts = encoder.weights.map((heads, l) => `${layerName(l)} ${wordWeight(averageHeads(heads), bank, to).toFixed(2)}`);
  return `Encoder self-attention of “bank” on “${context}” (mean of heads): ${parts.join(', ')}.`;
}

let busy = false;

async function translate(): Promise<void> {
  if (!translator || busy) return;
  const text = input.value;
  const source = sourceOf(text);
  if ('refusal' in source) return showError(source.refusal);
  const check = checkInput(translator, source.words);
  if (check.refusal) return showError(check.refusal);
  showMessage('Translating…', 'info');
  busy = true;
  button.disabled = true;
  await tf.nextFrame(); // let the message paint before the model runs
  const started = performance.now();
  try {
    const [translation] = await translator.translateAsync([source.words], { returnAttention: true });
    current = { translation: translation!, encoder: await encoderAttention(translator, source.words) };
    output.value = translation!.output;
    const verdict =
      source.reference === null ? '' : translation!.output === source.reference ? ' Matches the reference ✓.' : ` The reference is “${source.reference}” ✗.`;
    sourceInfo.textContent = `${source.note}${verdict}`.trim();
    notesList.replaceChildren(
      ...[...inputNotes(translator, source.words), ...outputNotes(translation!)].map((n) => {
        const li = document.createElement('li');
        li.textContent = n;
        return li;
      }),
    );
    bankInfo.textContent = bankLine(source.words, current.encoder);
    $('result').hidden = false;
    $('attention').hidden = false;
    drawHeatmap();
    showMessage('', 'info');
    state.timings.lastTranslationMs = Math.round(performance.now() - started);
    state.translations += 1;
    state.timings.firstTranslation ??= since();
    showTimings();
  } catch (error) {
    showError(`Translation failed: ${(error as Error).message}`);
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
    decoder: {
      caption: 'Decoder self-attention',
      rowLabel: 'output tokens',
      columnLabel: 'earlier output tokens',
      rows: t.targetTokens,
      columns: t.targetTokens,
    },
    encoder: {
      caption: 'Encoder self-attention',
      rowLabel: 'source tokens',
      columnLabel: 'source tokens',
      rows: encoder.sourceTokens,
      columns: encoder.sourceTokens,
    },
  };
  const d = data[view];
  heatmap.render({ ...d, caption: `${d.caption}, ${layerName(layer)}, ${which}`, weights });
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

  fillSelect(
    modelSelect,
    available.map((m) => [m, MODELS[m].label]),
  );
  const asked = new URLSearchParams(location.search).get('model');
  if (asked !== null && !available.includes(asked as ModelName)) {
    showMessage(`There is no ${asked} model in this build of the page (it has: ${available.join(', ')}); using ${available[0]}.`);
  }
  await loadModel(available.includes(asked as ModelName) ? (asked as ModelName) : available[0]!);
  const query = new URLSearchParams(location.search).get('q');
  if (query) input.value = query;
  await translate();
}

/** Loads one of the page's models (replacing the one in use) and shows its examples. */
async function loadModel(name: ModelName): Promise<void> {
  const url = name === 'ding' ? models.ding! : models.numbers;
  button.disabled = true;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the model ${url} could not be fetched: HTTP ${response.status}`);
  const loaded = translatorFromBytes(new Uint8Array(await response.arrayBuffer()), MODELS[name].file);
  translator?.dispose();
  translator = loaded.translator;
  state.model = name;
  modelSelect.value = name;
  state.timings.model ??= since();
  const c = translator.model.config;
  const m = loaded.metadata;
  const last = Array.isArray(m.history) ? (m.history.at(-1) as { exact?: number; BLEU?: number; chrF?: number } | undefined) : undefined;
  const dev = last === undefined ? '' : name === 'numbers' ? ` (${last.exact}% exact on dev)` : ` (dev BLEU ${last.BLEU}, chrF2 ${last.chrF})`;
  $('model-info').textContent =
    `Model: ${MODELS[name].file}, ${c.numEncoderLayers} + ${c.numDecoderLayers} layers, ${c.numHeads} heads, d = ${c.dModel}, ` +
    `${translator.model.countParams().toLocaleString('en')} parameters, trained on ${m.trainingData.join(', ')}` +
    `${typeof m.step === 'number' ? ` for ${m.step} steps` : ''}${dev}.`;
  fillSelect(
    layerSelect,
    Array.from({ length: c.numDecoderLayers }, (_, i) => [String(i), String(i + 1)]),
  );
  fillSelect(headSelect, [['average', 'Average'], ...Array.from({ length: c.numHeads }, (_, i): [string, string] => [String(i), String(i + 1)])]);
  layerSelect.value = String(c.numDecoderLayers - 1);
  $('input-label').textContent = MODELS[name].inputLabel;
  const examples = $('examples');
  examples.replaceChildren(
    'Examples: ',
    ...MODELS[name].examples.map((text) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'example';
      b.textContent = text;
      b.addEventListener('click', () => {
        input.value = text;
        void translate();
      });
      return b;
    }),
  );
  input.value = MODELS[name].first;
  button.disabled = false;
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void translate();
});
modelSelect.addEventListener('change', () => {
  if (busy) return;
  busy = true;
  loadModel(modelSelect.value as ModelName)
    .then(() => {
      busy = false;
      return translate();
    })
    .catch((error: Error) => {
      busy = false;
      showError(`The model could not be loaded: ${error.message}`);
    });
});
for (const select of [viewSelect, layerSelect, headSelect]) select.addEventListener('change', drawHeatmap);

start().catch((error: Error) => {
  state.error = error.message;
  showMessage(`The page could not start: ${error.message}`);
});
