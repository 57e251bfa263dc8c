/**
 * English–German example sentences from the Ding dictionary (Debian package `trans-de-en`,
 * GPL-2+). The corpus is fetched on demand (see `fetch-ding.ts`), never committed and never
 * used for a shipped checkpoint.
 *
 * **File format** (`/usr/share/trans/de-en`, UTF-8, one entry per line):
 * `#` starts a comment line; otherwise `German :: English`. Each side holds sub-entries
 * separated by ` | `, the n-th German sub-entry translating the n-th English one. Inside a
 * sub-entry, alternatives are separated by `; `. Annotations: `{f}` grammar, `[ugs.]` usage
 * or domain, `<…>` hidden search keys, `/Abk./` abbreviations. Example sentences are
 * sub-entries that read as sentences on both sides, e.g.
 * `Abend {m} | Es wird Abend. :: evening | Night is falling.`
 *
 * **Extraction.** For each aligned sub-entry pair: drop annotations, keep the first
 * alternative, normalise (NFC, whitespace), and keep the pair when both sides are sentences:
 * at least two words, starting with an upper-case letter, digit or opening quote, ending in
 * `.`, `?`, `!` or `…` (optionally followed by a closing quote). Lines whose sides have
 * different sub-entry counts are skipped and counted. Identical pairs are kept once.
 */

import { type SplitOptions, type Splits, splitBy } from '../split.js';
import { normalizeText } from '../text.js';

export interface SentencePair {
  en: string;
  de: string;
  /** 1-based line of the dictionary file the pair came from (its first occurrence). */
  line: number;
}

export interface DingParseResult {
  pairs: SentencePair[];
  /** Non-comment lines seen. */
  entries: number;
  /** Lines skipped because ` :: ` was missing or the sub-entry counts differed. */
  malformed: number;
  /** Sentence pairs dropped as exact duplicates of an earlier pair. */
  duplicates: number;
}

const ANNOTATIONS = [/\s*\{[^}]*\}/g, /\s*\[[^\]]*\]/g, /\s*<[^>]*>/g, /(?:^|\s+)\/[^\s/][^/]*[^\s/]\/(?=[\s.,;!?]|$)/g];
const SENTENCE_END = /[.?!…]["“”’»«]?$/u;
const SENTENCE_START = /^[\p{Lu}\p{Nd}"„“‚‘»«]/u;

/** A sub-entry with its annotations removed and only its first alternative, normalised. */
export function cleanSubEntry(text: string): string {
  let out = text;
  for (const pattern of ANNOTATIONS) out = out.replace(pattern, '');
  const [first = ''] = out.split(/\s*;\s+/);
  return normalizeText(first);
}

/** Whether cleaned text reads as a sentence (see the module comment). */
export function isSentence(text: string): boolean {
  return SENTENCE_START.test(text) && SENTENCE_END.test(text) && text.split(' ').length >= 2;
}

/** Parses the Ding `de-en` file's text into deduplicated English–German sentence pairs. */
export function parseDing(text: string): DingParseResult {
  const pairs: SentencePair[] = [];
  const seen = new Set<string>();
  let entries = 0;
  let malformed = 0;
  let duplicates = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    if (raw.startsWith('#') || raw.trim() === '') return;
    entries++;
    const sep = raw.indexOf(' :: ');
    if (sep < 0) {
      malformed++;
      return;
    }
    const de = raw.slice(0, sep).split(' | ');
    const en = raw.slice(sep + 4).split(' | ');
    if (de.length !== en.length) {
      malformed++;
      return;
    }
    de.forEach((deSub, i) => {
      const g = cleanSubEntry(deSub);
      const e = cleanSubEntry(en[i]!);
      if (!isSentence(g) || !isSentence(e)) return;
      const key = `${e}\u0000${g}`;
      if (seen.has(key)) {
        duplicates++;
        return;
      }
      seen.add(key);
      pairs.push({ en: e, de: g, line: index + 1 });
    });
  });
  return { pairs, entries, malformed, duplicates };
}

/**
 * Train/dev/test split **by English sentence**: the key is the normalised English text, so
 * every German translation of one English sentence is in the same split. Defaults: seed
 * `'ding'`, 5 % dev, 5 % test.
 */
export function splitDing(pairs: Iterable<SentencePair>, options: SplitOptions = {}): Splits<SentencePair> {
  return splitBy(pairs, (p) => p.en, { seed: 'ding', ...options });
}
