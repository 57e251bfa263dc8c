/**
 * What the demo, the `translate` command and the web page say about an input beyond its
 * translation, free of Node APIs (the page imports it):
 *
 * - the seed's "bank" pair and how much the encoder's "bank" attends to "money" / "river",
 * - notes on input the model does not know (characters outside its alphabet, digits for the
 *   sentence model, text that is not English number words for the numbers model, cut inputs),
 * - what the numbers model reads for digits (spelt out with n2words, as the page does).
 *
 * **Layer numbering** is 1-based everywhere a person reads it (demo, report, CLI, page):
 * "layer 1" is the first layer; arrays stay 0-based (`layerName(0) === 'layer 1'`).
 */
import { MAX_NUMBER, numberPair } from './data/numbers.js';
import { normalizeText } from './text.js';
import { UNK_ID } from './tokenizer/bpe.js';
import type { Translation, Translator } from './translator.js';

/** How a person reads layer index `i` (0-based): `layer i+1`. */
export const layerName = (i: number) => `layer ${i + 1}`;
/** How a person reads head index `i` (0-based): `head i+1`. */
export const headName = (i: number) => `head ${i + 1}`;

/** The seed's example: one "bank" next to money, one next to a river. */
export const BANK_SENTENCES = [
  { text: 'I deposited money at the bank.', word: 'bank', context: 'money' },
  { text: 'We sat by the river bank.', word: 'bank', context: 'river' },
] as const;

/**
 * Indices of the tokens that make up every whole-word occurrence of `word` (case-insensitive)
 * in an encoding's text, by the tokens' character spans. Empty when the word does not occur.
 */
export function wordTokens(encoding: { text: string; spans: readonly ([number, number] | null)[] }, word: string): number[] {
  const out = new Set<number>();
  const text = encoding.text.toLowerCase();
  const w = word.toLowerCase();
  for (let at = text.indexOf(w); at >= 0; at = text.indexOf(w, at + 1)) {
    const before = at === 0 ? '' : text[at - 1]!;
    const after = text[at + w.length] ?? '';
    if (/[\p{L}\p{N}]/u.test(before) || /[\p{L}\p{N}]/u.test(after)) continue;
    encoding.spans.forEach((span, i) => {
      if (span && span[0] < at + w.length && span[1] > at && text.slice(span[0], span[1]).trim() !== '') out.add(i);
    });
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The attention of word A on word B in one `[query][key]` matrix: the mean over A's tokens of
 * the summed weight on B's tokens (so a word split into pieces counts once, and the value is a
 * share of A's attention, in [0, 1]).
 */
export function wordWeight(weights: readonly (readonly number[])[], from: readonly number[], to: readonly number[]): number {
  if (from.length === 0 || to.length === 0) return Number.NaN;
  let total = 0;
  for (const q of from) for (const k of to) total += weights[q]![k]!;
  return total / from.length;
}

/** The sentence model treats digits as outside what it knows (the Ding sentences spell numbers rarely with digits). */
const DIGIT = /\p{Nd}/u;

/** English number words of 0..9999 → their pair, built on first use. */
let byWords: Map<string, ReturnType<typeof numberPair>> | null = null;
/** The numbers pair of English number words (any case, any spacing), or null. */
export function lookupNumberWords(text: string): ReturnType<typeof numberPair> | null {
  byWords ??= new Map(Array.from({ length: 10_000 }, (_, n) => numberPair(n)).map((p) => [p.en, p]));
  return byWords.get(normalizeText(text).toLowerCase()) ?? null;
}

/**
 * What the numbers model reads for an input: digits (`4721`, `4,721`) become English words
 * (n2words), number words are lower-cased (`Twenty-Nine` → `twenty-nine`), other text is used as
 * typed and flagged. `reference` is the German of a recognised number (0..9999 words, 0..999 999 digits).
 */
export function numbersSource(text: string): { words: string; reference: string | null; note: string; known: boolean } | { refusal: string } {
  const digits = text.trim().replace(/[\s,_]/g, '');
  if (/^\d+$/.test(digits)) {
    const n = Number(digits);
    if (n > MAX_NUMBER) return { refusal: `${text.trim()} is too large: this app spells numbers up to ${MAX_NUMBER.toLocaleString('en')}.` };
    const pair = numberPair(n);
    const range = n > 9999 ? ' The model was trained on 0 to 9 999 only, so expect mistakes.' : '';
    return { words: pair.en, reference: pair.de, note: `${n} in English words: “${pair.en}”.${range}`, known: n <= 9999 };
  }
  const pair = lookupNumberWords(text);
  if (pair) return { words: pair.en, reference: pair.de, note: `“${pair.en}” is ${pair.n}.`, known: true };
  return {
    words: normalizeText(text).toLowerCase(),
    reference: null,
    note: 'Not English number words from 0 to 9 999: the numbers model knows nothing else, so its output is a guess.',
    known: false,
  };
}

/**
 * Notes on an input the model may not know, each one sentence for a person (empty when none):
 * characters outside the model's alphabet (they become `<unk>`), digits for the sentence model,
 * and inputs cut to `maxSourceTokens`.
 */
export function inputNotes(translator: Translator, text: string): string[] {
  const notes: string[] = [];
  const enc = translator.tokenizer.encode(normalizeText(text), { eos: true });
  const unknown = new Set<string>();
  enc.ids.forEach((id, i) => {
    const span = enc.spans[i];
    if (id === UNK_ID && span) unknown.add(enc.text.slice(span[0], span[1]).trim());
  });
  if (unknown.size > 0) {
    const list = [...unknown].map((c) => `“${c}” (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')})`).join(', ');
    notes.push(
      `Unknown to the model: ${list}; it reads ${unknown.size === 1 ? 'this character' : 'these characters'} as <unk>, so the translation may drop or garble ${unknown.size === 1 ? 'it' : 'them'}.`,
    );
  }
  if (translator.config.task === 'ding' && DIGIT.test(enc.text)) {
    notes.push('Digits: the sentence model saw few numbers written with digits; it may drop or change them (check the numbers in the output).');
  }
  if (enc.ids.length > translator.config.maxSourceTokens) {
    notes.push(`Too long: ${enc.ids.length} tokens, but the model reads at most ${translator.config.maxSourceTokens}; the rest was cut off.`);
  }
  return notes;
}

/** Below this {@link Translation.confidence} an output is flagged as a guess. */
export const LOW_CONFIDENCE = 0.5;

/** Notes on an output (empty when none): a low-confidence translation is flagged, never answered as if sure. */
export function outputNotes(t: Pick<Translation, 'confidence'>): string[] {
  if (!(t.confidence < LOW_CONFIDENCE)) return [];
  return [
    `Low confidence: the model gave its own output tokens a mean probability of ${t.confidence.toFixed(2)} (below ${LOW_CONFIDENCE}); treat this translation as a guess.`,
  ];
}
