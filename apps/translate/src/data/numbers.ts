/**
 * The `numbers` task: English number words → German number words, generated offline.
 *
 * The strings come from `n2words` (MIT): `en-US` for English ("twenty-nine", no "and"),
 * `de-DE` for German ("neunundzwanzig"). Beside each string we build its **pieces**: the
 * morphemes the number is made of, each with its character span and a structural role
 * (`g0.units` = the units digit of the last three digits, `g1.tens` = the tens of the
 * thousands group, `thousand`, …). Joining the pieces must reproduce n2words' string exactly;
 * `numberPair` throws when it does not, so n2words checks the decomposition for every number
 * we generate.
 *
 * **Alignment.** An English piece and a German piece are aligned when they have the same
 * role: `neun|und|zwanzig` ↔ `twenty-nine` aligns `neun`↔`nine` and `zwanzig`↔`twenty` (the
 * crossing), `hundert`↔`hundred`, `tausend`↔`thousand`, `zehn`↔`ten`. The German linker `und`
 * has no English counterpart and is unaligned (role `null`); so is nothing else. Teens
 * (`siebzehn`↔`seventeen`) are one piece each. Token-level alignment follows from character
 * spans: a target token's gold source tokens are the source tokens overlapping any English
 * piece aligned to a German piece the target token overlaps (see `tokenAlignment`).
 *
 * **Known n2words defect, corrected.** n2words 4.0.0 writes 101 000 as "einhunderteinstausend";
 * German is "einhunderteintausend" (the `s` of "eins" appears only at the very end of a
 * number). `numberPair` replaces `einstausend` with `eintausend` before the check.
 */

import { AttentionError } from '@attnkit/masking';
import { toCardinal as deCardinal } from 'n2words/de-DE';
import { toCardinal as enCardinal } from 'n2words/en-US';
import { type SplitOptions, type Splits, splitBy } from '../split.js';

/** The largest number the task generates: six digits keep it below "Million". */
export const MAX_NUMBER = 999_999;

/** A morpheme of a number word with its span `[start, end)` in code units and its role. */
export interface Piece {
  text: string;
  start: number;
  end: number;
  /** Structural role; pieces of the two languages with equal roles are aligned. `null`: unaligned. */
  role: string | null;
}

export interface NumberPair {
  n: number;
  /** English words (source). */
  en: string;
  /** German words (target). */
  de: string;
  enPieces: Piece[];
  dePieces: Piece[];
}

const EN_ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
const EN_TEENS = ['ten', 'eleven', 'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const EN_TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
// German 1 is "ein" inside a number and "eins" only as the last word; index 1 holds "ein".
const DE_ONES = ['null', 'ein', 'zwei', 'drei', 'vier', 'fünf', 'sechs', 'sieben', 'acht', 'neun'];
const DE_TEENS = ['zehn', 'elf', 'zwölf', 'dreizehn', 'vierzehn', 'fünfzehn', 'sechzehn', 'siebzehn', 'achtzehn', 'neunzehn'];
const DE_TENS = ['', '', 'zwanzig', 'dreißig', 'vierzig', 'fünfzig', 'sechzig', 'siebzig', 'achtzig', 'neunzig'];

type Part = { text: string; role: string | null };

/** English parts of a three-digit group `c` (1..999), with `g` naming the group. */
function enGroup(c: number, g: string): Part[][] {
  // Words are separated by spaces; the parts inside one word by '-' (twenty-one).
  const words: Part[][] = [];
  const h = Math.floor(c / 100);
  const r = c % 100;
  if (h > 0) words.push([{ text: EN_ONES[h]!, role: `${g}.hundreds` }], [{ text: 'hundred', role: `${g}.hundred` }]);
  if (r >= 20) {
    const word: Part[] = [{ text: EN_TENS[Math.floor(r / 10)]!, role: `${g}.tens` }];
    if (r % 10 > 0) word.push({ text: EN_ONES[r % 10]!, role: `${g}.units` });
    words.push(word);
  } else if (r >= 10) words.push([{ text: EN_TEENS[r - 10]!, role: `${g}.teen` }]);
  else if (r > 0) words.push([{ text: EN_ONES[r]!, role: `${g}.units` }]);
  return words;
}

/** German parts of a three-digit group `c` (1..999); `final` says whether it ends the number. */
function deGroup(c: number, g: string, final: boolean): Part[] {
  const parts: Part[] = [];
  const h = Math.floor(c / 100);
  const r = c % 100;
  if (h > 0) parts.push({ text: DE_ONES[h]!, role: `${g}.hundreds` }, { text: 'hundert', role: `${g}.hundred` });
  const u = r % 10;
  if (r >= 20) {
    // Units before tens, joined by "und": neun|und|zwanzig.
    if (u > 0) parts.push({ text: DE_ONES[u]!, role: `${g}.units` }, { text: 'und', role: null });
    parts.push({ text: DE_TENS[Math.floor(r / 10)]!, role: `${g}.tens` });
  } else if (r >= 10) parts.push({ text: DE_TEENS[r - 10]!, role: `${g}.teen` });
  else if (r > 0) parts.push({ text: r === 1 && final ? 'eins' : DE_ONES[r]!, role: `${g}.units` });
  return parts;
}

function withSpans(parts: Part[], separators: string[]): { text: string; pieces: Piece[] } {
  let text = '';
  const pieces: Piece[] = [];
  parts.forEach((part, i) => {
    if (i > 0) text += separators[i - 1];
    pieces.push({ text: part.text, start: text.length, end: text.length + part.text.length, role: part.role });
    text += part.text;
  });
  return { text, pieces };
}

function englishPieces(n: number): { text: string; pieces: Piece[] } {
  if (n === 0) return withSpans([{ text: 'zero', role: 'zero' }], []);
  const thousands = Math.floor(n / 1000);
  const rest = n % 1000;
  const words: Part[][] = [];
  if (thousands > 0) words.push(...enGroup(thousands, 'g1'), [{ text: 'thousand', role: 'thousand' }]);
  if (rest > 0) words.push(...enGroup(rest, 'g0'));
  const parts = words.flat();
  const separators = words.flatMap((word, i) => [...word.slice(1).map(() => '-'), ...(i < words.length - 1 ? [' '] : [])]);
  return withSpans(parts, separators);
}

function germanPieces(n: number): { text: string; pieces: Piece[] } {
  if (n === 0) return withSpans([{ text: 'null', role: 'zero' }], []);
  const thousands = Math.floor(n / 1000);
  const rest = n % 1000;
  const parts: Part[] = [];
  if (thousands > 0) parts.push(...deGroup(thousands, 'g1', false), { text: 'tausend', role: 'thousand' });
  if (rest > 0) parts.push(...deGroup(rest, 'g0', true));
  return withSpans(
    parts,
    parts.slice(1).map(() => ''),
  );
}

/** The (English, German) pair for an integer in `[0, MAX_NUMBER]`, with aligned pieces. */
export function numberPair(n: number): NumberPair {
  if (!Number.isInteger(n) || n < 0 || n > MAX_NUMBER) {
    throw AttentionError.value('numberPair', `n must be an integer in [0, ${MAX_NUMBER}]`, n);
  }
  const en = enCardinal(n);
  const de = deCardinal(n).replace(/einstausend/g, 'eintausend');
  const enBuilt = englishPieces(n);
  const deBuilt = germanPieces(n);
  if (enBuilt.text !== en || deBuilt.text !== de) {
    throw AttentionError.value('numberPair', `piece decomposition of ${n} disagrees with n2words ('${en}', '${de}')`, `'${enBuilt.text}', '${deBuilt.text}'`);
  }
  return { n, en, de, enPieces: enBuilt.pieces, dePieces: deBuilt.pieces };
}

export interface NumberRangeOptions {
  /** Smallest number. Default `0`. */
  min?: number;
  /** Largest number, at most `MAX_NUMBER`. Default `9999`. */
  max?: number;
}

/** Every pair for `min..max` in increasing order. */
export function numberPairs(options: NumberRangeOptions = {}): NumberPair[] {
  const { min = 0, max = 9999 } = options;
  if (!(Number.isInteger(min) && Number.isInteger(max) && 0 <= min && min <= max && max <= MAX_NUMBER)) {
    throw AttentionError.value('numberPairs', `need integers 0 <= min <= max <= ${MAX_NUMBER}`, `min ${min}, max ${max}`);
  }
  const out: NumberPair[] = [];
  for (let n = min; n <= max; n++) out.push(numberPair(n));
  return out;
}

/**
 * Train/dev/test split of the numbers task by number (seeded hash of the decimal string, see
 * `splitOf`): a number and so its English words live in exactly one split.
 */
export function splitNumbers(pairs: Iterable<NumberPair>, options: SplitOptions = {}): Splits<NumberPair> {
  return splitBy(pairs, (p) => String(p.n), { seed: 'numbers', ...options });
}

/**
 * Piece-level alignment: for each German piece, the indices of the English pieces with the same
 * role (empty for `und`).
 */
export function pieceAlignment(pair: NumberPair): number[][] {
  return pair.dePieces.map((d) => (d.role === null ? [] : pair.enPieces.flatMap((e, j) => (e.role === d.role ? [j] : []))));
}

/** A token's span `[start, end)` in the normalised text, or `null` for special tokens. */
export type TokenSpan = readonly [number, number] | null;

const overlaps = (a: readonly [number, number], p: Piece) => a[0] < p.end && p.start < a[1];

/**
 * Token-level gold alignment. `sourceSpans[s]` and `targetSpans[t]` are the spans of the source
 * (English) and target (German) tokens in `pair.en` / `pair.de` (`null` for `<bos>`, `<eos>`…).
 * For each target token, the sorted indices of the source tokens overlapping an English piece
 * aligned to a German piece the target token overlaps. Empty: the token is not scored (a
 * special token, or a token covering only `und`).
 */
export function tokenAlignment(pair: NumberPair, sourceSpans: readonly TokenSpan[], targetSpans: readonly TokenSpan[]): number[][] {
  const pieces = pieceAlignment(pair);
  return targetSpans.map((t) => {
    if (t === null) return [];
    const enPieces = new Set<number>();
    pair.dePieces.forEach((d, i) => {
      if (overlaps(t, d)) for (const j of pieces[i]!) enPieces.add(j);
    });
    const gold: number[] = [];
    sourceSpans.forEach((s, si) => {
      if (s !== null && [...enPieces].some((j) => overlaps(s, pair.enPieces[j]!))) gold.push(si);
    });
    return gold;
  });
}

export interface AlignmentScore {
  /** Target tokens with a non-empty gold set. */
  scored: number;
  /** Of those, how many put their largest weight on a gold source token. */
  correct: number;
  /** `correct / scored` (0 when nothing is scored). */
  accuracy: number;
}

/**
 * How often each target token's strongest cross-attention falls on a right source token.
 * `weights[t][s]` is the attention of target token `t` on source token `s` (rows `[Tt]`,
 * columns `[Ts]`, e.g. averaged over heads); `gold` comes from `tokenAlignment`. Ties go to the
 * first maximum.
 */
export function alignmentAccuracy(weights: readonly (readonly number[])[], gold: readonly (readonly number[])[]): AlignmentScore {
  if (weights.length !== gold.length) {
    throw AttentionError.shapes('alignmentAccuracy', 'weights and gold need one row per target token', {
      weights: [weights.length, weights[0]?.length ?? 0],
      gold: [gold.length],
    });
  }
  let scored = 0;
  let correct = 0;
  weights.forEach((row, t) => {
    const g = gold[t]!;
    if (g.length === 0) return;
    scored++;
    let best = 0;
    for (let s = 1; s < row.length; s++) if (row[s]! > row[best]!) best = s;
    if (g.includes(best)) correct++;
  });
  return { scored, correct, accuracy: scored === 0 ? 0 : correct / scored };
}
