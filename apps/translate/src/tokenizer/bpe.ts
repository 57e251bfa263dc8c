/**
 * Byte-pair encoding over characters with one vocabulary shared by source and target.
 *
 * 1) **Normalise** with `normalizeText` (NFC, whitespace runs → one space, trimmed).
 * 2) **Pre-tokenise**: letter runs (`\p{L}` plus marks), single digits and single other
 *    characters; a pre-token that follows a space starts with the marker `▁` (U+2581), which
 *    stands for that space. Merges never cross pre-tokens.
 * 3) **Merge**: training repeatedly merges the most frequent adjacent symbol pair (ties broken by
 *    the left, then right symbol's code-unit order) until `vocabSize` or no pair occurs
 *    `minPairFrequency` times; encoding replays the merges in the order learnt.
 *
 * Ids: `<pad>` = 0, `<bos>` = 1, `<eos>` = 2, `<unk>` = 3, then the alphabet in code-point
 * order, then one id per merge. Characters outside the alphabet (and a literal `▁`) encode to
 * `<unk>`. For text within the alphabet, `decode(encode(x).ids) === normalizeText(x)`.
 */

import { AttentionError } from '@attnkit/masking';
import { normalizeText } from '../text.js';

export const PAD = '<pad>';
export const BOS = '<bos>';
export const EOS = '<eos>';
export const UNK = '<unk>';
export const SPECIAL_TOKENS = [PAD, BOS, EOS, UNK] as const;
export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
/** The word-start marker; decodes to a space. */
export const SPACE_MARK = '\u2581';
/** What `<unk>` decodes to. */
export const UNK_TEXT = '\u2047';

/** A pre-token: its symbols' text (with `▁` when it follows a space) and its span in the text. */
interface PreToken {
  chars: string[];
  start: number;
  end: number;
}

const PRE_TOKEN = /\p{L}[\p{L}\p{M}]*|\p{N}|[^\s\p{L}\p{N}]/gu;

/** Splits normalised text into pre-tokens; spans include the space a `▁` stands for. */
function preTokenize(text: string): PreToken[] {
  const out: PreToken[] = [];
  for (const m of text.matchAll(PRE_TOKEN)) {
    const start = m.index;
    const spaced = start > 0 && text[start - 1] === ' ';
    const chars = Array.from(m[0]);
    out.push({ chars: spaced ? [SPACE_MARK, ...chars] : chars, start: spaced ? start - 1 : start, end: start + m[0].length });
  }
  return out;
}

export interface BPETrainOptions {
  /** Target vocabulary size including the 4 special tokens and the alphabet. Default `8000`. */
  vocabSize?: number;
  /** A character enters the alphabet when it occurs at least this often. Default `1`. */
  minCharFrequency?: number;
  /** Training stops when no pair occurs this often. Default `2`. */
  minPairFrequency?: number;
}

export interface EncodeOptions {
  /** Prepend `<bos>`. Default `false`. */
  bos?: boolean;
  /** Append `<eos>`. Default `true`. */
  eos?: boolean;
  /** Longest result in ids, `<bos>`/`<eos>` included. Default: no limit. */
  maxLength?: number;
  /**
   * What to do past `maxLength`: `'truncate'` keeps the first tokens and still ends in `<eos>`
   * when `eos` is set; `'error'` throws. Default `'truncate'`.
   */
  overflow?: 'truncate' | 'error';
}

export interface Encoding {
  ids: number[];
  /** Per id, its span `[start, end)` in `text`, or `null` for special tokens. */
  spans: ([number, number] | null)[];
  /** The normalised text the spans refer to. */
  text: string;
  /** Whether tokens were dropped to fit `maxLength`. */
  truncated: boolean;
}

/** The JSON form saved with a checkpoint. */
export interface BPEJSON {
  format: 'attnkit-bpe';
  version: 1;
  specialTokens: string[];
  alphabet: string[];
  merges: [string, string][];
}

type HeapEntry = { count: number; a: number; b: number };

/** A binary max-heap of candidate pairs; stale entries are skipped by the caller. */
class PairHeap {
  private items: HeapEntry[] = [];
  constructor(private readonly before: (x: HeapEntry, y: HeapEntry) => boolean) {}
  get size(): number {
    return this.items.length;
  }
  push(entry: HeapEntry): void {
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  pop(): HeapEntry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.before(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.before(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }
}

export class BPETokenizer {
  /** Id → token string. */
  readonly vocab: readonly string[];
  readonly merges: readonly (readonly [string, string])[];
  readonly alphabet: readonly string[];
  private readonly ids: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  private constructor(alphabet: string[], merges: [string, string][]) {
    this.alphabet = alphabet;
    this.merges = merges;
    this.vocab = [...SPECIAL_TOKENS, ...alphabet, ...merges.map(([a, b]) => a + b)];
    this.ids = new Map(this.vocab.map((t, i) => [t, i]));
    this.ranks = new Map(merges.map(([a, b], i) => [`${a}\u0000${b}`, i]));
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Learns a shared vocabulary from all given texts (source and target sentences alike). */
  static train(texts: Iterable<string>, options: BPETrainOptions = {}): BPETokenizer {
    const { vocabSize = 8000, minCharFrequency = 1, minPairFrequency = 2 } = options;
    if (!Number.isInteger(vocabSize) || vocabSize <= SPECIAL_TOKENS.length) {
      throw AttentionError.value('BPETokenizer.train', `vocabSize must be an integer above ${SPECIAL_TOKENS.length}`, vocabSize);
    }
    // 1) count pre-tokens and characters
    const wordCounts = new Map<string, number>();
    const charCounts = new Map<string, number>();
    for (const raw of texts) {
      for (const pre of preTokenize(normalizeText(raw))) {
        const key = pre.chars.join('\u0000');
        wordCounts.set(key, (wordCounts.get(key) ?? 0) + 1);
        for (const c of pre.chars) charCounts.set(c, (charCounts.get(c) ?? 0) + 1);
      }
    }
    const alphabet = [...charCounts]
      .filter(([c, n]) => n >= minCharFrequency || c === SPACE_MARK)
      .map(([c]) => c)
      .sort(compareCodePoints);
    // 2) words as symbol-id arrays; characters outside the alphabet cut a word into parts
    const symbols: string[] = [...alphabet];
    const symbolId = new Map(symbols.map((s, i) => [s, i]));
    const words: { syms: number[]; count: number }[] = [];
    for (const [key, count] of wordCounts) {
      let part: number[] = [];
      for (const c of key.split('\u0000')) {
        const id = symbolId.get(c);
        if (id === undefined) {
          if (part.length > 1) words.push({ syms: part, count });
          part = [];
        } else part.push(id);
      }
      if (part.length > 1) words.push({ syms: part, count });
    }
    // 3) pair counts and where each pair occurs
    const SHIFT = 2 ** 21;
    const pairCounts = new Map<number, number>();
    const pairWords = new Map<number, Set<number>>();
    const touched = new Set<number>();
    const addWord = (w: number, sign: 1 | -1) => {
      const { syms, count } = words[w]!;
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = syms[i]! * SHIFT + syms[i + 1]!;
        const n = (pairCounts.get(key) ?? 0) + sign * count;
        if (n > 0) pairCounts.set(key, n);
        else pairCounts.delete(key);
        touched.add(key);
        if (sign > 0) {
          const set = pairWords.get(key);
          if (set) set.add(w);
          else pairWords.set(key, new Set([w]));
        }
      }
    };
    for (let w = 0; w < words.length; w++) addWord(w, 1);
    touched.clear();
    const heap = new PairHeap((x, y) =>
      x.count !== y.count
        ? x.count > y.count
        : x.a !== y.a
          ? compareCodePoints(symbols[x.a]!, symbols[y.a]!) < 0
          : compareCodePoints(symbols[x.b]!, symbols[y.b]!) < 0,
    );
    const pushPair = (key: number) => {
      const count = pairCounts.get(key) ?? 0;
      if (count > 0) heap.push({ count, a: Math.floor(key / SHIFT), b: key % SHIFT });
    };
    for (const key of pairCounts.keys()) pushPair(key);
    // 4) merge the most frequent pair until the vocabulary is full
    const merges: [string, string][] = [];
    while (SPECIAL_TOKENS.length + symbols.length < vocabSize && heap.size > 0) {
      const top = heap.pop()!;
      const key = top.a * SHIFT + top.b;
      if (pairCounts.get(key) !== top.count) continue; // stale entry
      if (top.count < minPairFrequency) break;
      const merged = symbols[top.a]! + symbols[top.b]!;
      let id = symbolId.get(merged);
      if (id === undefined) {
        id = symbols.length;
        symbols.push(merged);
        symbolId.set(merged, id);
      }
      merges.push([symbols[top.a]!, symbols[top.b]!]);
      touched.clear();
      for (const w of pairWords.get(key) ?? []) {
        const { syms } = words[w]!;
        addWord(w, -1);
        const next: number[] = [];
        for (let i = 0; i < syms.length; i++) {
          if (i + 1 < syms.length && syms[i] === top.a && syms[i + 1] === top.b) {
            next.push(id);
            i++;
          } else next.push(syms[i]!);
        }
        words[w]!.syms = next;
        addWord(w, 1);
      }
      pairCounts.delete(key);
      pairWords.delete(key);
      // Every pair whose count changed gets a fresh heap entry; its older entries turn stale.
      for (const k of touched) if (k !== key) pushPair(k);
    }
    return new BPETokenizer(alphabet, merges);
  }

  /** Rebuilds a tokenizer from `toJSON()`'s output, validating it. */
  static fromJSON(json: unknown): BPETokenizer {
    const op = 'BPETokenizer.fromJSON';
    const j = json as Partial<BPEJSON> | null;
    if (j === null || typeof j !== 'object' || j.format !== 'attnkit-bpe') {
      throw AttentionError.value(op, "expected an object with format 'attnkit-bpe'", j === null || typeof j !== 'object' ? j : j.format);
    }
    if (j.version !== 1) throw AttentionError.value(op, 'unsupported version (this code reads 1)', j.version);
    const specials = j.specialTokens;
    if (!Array.isArray(specials) || specials.join() !== SPECIAL_TOKENS.join()) {
      throw AttentionError.value(op, `specialTokens must be ${SPECIAL_TOKENS.join(', ')}`, Array.isArray(specials) ? specials.join(', ') : specials);
    }
    if (!Array.isArray(j.alphabet) || !j.alphabet.every((c) => typeof c === 'string' && Array.from(c).length === 1)) {
      throw AttentionError.value(op, 'alphabet must be an array of single characters', JSON.stringify(j.alphabet)?.slice(0, 80));
    }
    if (!Array.isArray(j.merges) || !j.merges.every((m) => Array.isArray(m) && m.length === 2 && m.every((s) => typeof s === 'string' && s.length > 0))) {
      throw AttentionError.value(op, 'merges must be an array of [left, right] string pairs', JSON.stringify(j.merges)?.slice(0, 80));
    }
    const known = new Set<string>(j.alphabet);
    j.merges.forEach(([a, b], i) => {
      if (!known.has(a) || !known.has(b)) throw AttentionError.value(op, `merge ${i} uses a symbol not defined before it`, `[${a}, ${b}]`);
      known.add(a + b);
    });
    return new BPETokenizer(
      [...j.alphabet],
      j.merges.map(([a, b]) => [a, b]),
    );
  }

  toJSON(): BPEJSON {
    return { format: 'attnkit-bpe', version: 1, specialTokens: [...SPECIAL_TOKENS], alphabet: [...this.alphabet], merges: this.merges.map(([a, b]) => [a, b]) };
  }

  /** Id of a token string, or `undefined`. */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Token strings of ids (`▁` kept), e.g. for heatmap labels. */
  idsToTokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.vocab[id] ?? UNK);
  }

  /** Normalises `text` and encodes it, with each token's span in the normalised text. */
  encode(text: string, options: EncodeOptions = {}): Encoding {
    const { bos = false, eos = true, maxLength, overflow = 'truncate' } = options;
    const reserved = (bos ? 1 : 0) + (eos ? 1 : 0);
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < reserved + 1)) {
      throw AttentionError.value('BPETokenizer.encode', `maxLength must be an integer of at least ${reserved + 1}`, maxLength);
    }
    const normalized = normalizeText(text);
    const ids: number[] = [];
    const spans: ([number, number] | null)[] = [];
    for (const pre of preTokenize(normalized)) {
      let offset = pre.start;
      for (const piece of this.segment(pre.chars)) {
        const width = piece.length; // `▁` is one code unit wide, like the space it stands for
        ids.push(this.ids.get(piece) ?? UNK_ID);
        spans.push([offset, offset + width]);
        offset += width;
      }
    }
    let truncated = false;
    if (maxLength !== undefined && ids.length + reserved > maxLength) {
      if (overflow === 'error') {
        throw AttentionError.value('BPETokenizer.encode', `text encodes to more than maxLength ${maxLength} ids`, ids.length + reserved);
      }
      ids.length = maxLength - reserved;
      spans.length = maxLength - reserved;
      truncated = true;
    }
    if (bos) {
      ids.unshift(BOS_ID);
      spans.unshift(null);
    }
    if (eos) {
      ids.push(EOS_ID);
      spans.push(null);
    }
    return { ids, spans, text: normalized, truncated };
  }

  /** Text of ids: special tokens dropped (unless `skipSpecial` is false), `▁` → space, `<unk>` → `⁇`. */
  decode(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    const { skipSpecial = true } = options;
    let out = '';
    for (const id of ids) {
      const token = this.vocab[id];
      if (token === undefined) throw AttentionError.value('BPETokenizer.decode', `ids must be in [0, ${this.vocab.length})`, id);
      if (id === UNK_ID) out += UNK_TEXT;
      else if (id < SPECIAL_TOKENS.length) out += skipSpecial ? '' : token;
      else out += token.replaceAll(SPACE_MARK, ' ');
    }
    return out.trim();
  }

  /** BPE of one pre-token: replays the merges in learnt order. Characters not in the alphabet stay alone. */
  private segment(chars: string[]): string[] {
    const key = chars.join('\u0000');
    const hit = this.cache.get(key);
    if (hit) return hit;
    let parts = [...chars];
    for (;;) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i + 1 < parts.length; i++) {
        const rank = this.ranks.get(`${parts[i]}\u0000${parts[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const [a, b] = this.merges[bestRank]!;
      const next: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(parts[i]!);
      }
      parts = next;
    }
    if (this.cache.size < 100_000) this.cache.set(key, parts);
    return parts;
  }
}

function compareCodePoints(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

export interface Batch {
  /** Row-major ids, padded with `<pad>` = 0: `[B, T]`. */
  ids: Int32Array;
  shape: [number, number];
  /** Real (unpadded) length of each row. */
  lengths: number[];
}

/** Pads id sequences to the longest (or `length`) with `<pad>`; ready for `tf.tensor2d(ids, shape, 'int32')`. */
export function padBatch(sequences: readonly (readonly number[])[], options: { length?: number } = {}): Batch {
  const longest = sequences.reduce((m, s) => Math.max(m, s.length), 0);
  const { length = longest } = options;
  if (length < longest) throw AttentionError.value('padBatch', `length must be at least the longest sequence (${longest})`, length);
  const ids = new Int32Array(sequences.length * length).fill(PAD_ID);
  sequences.forEach((s, i) => {
    ids.set(s, i * length);
  });
  return { ids, shape: [sequences.length, length], lengths: sequences.map((s) => s.length) };
}
