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

/**
 * The dictionary's aligned **word and phrase pairs** (`Hund {m} :: dog`, `zur Abholung bereit ::
 * ready for collection`): the sub-entry pairs that are not sentences, as extra training data for
 * vocabulary. For each aligned sub-entry pair: drop annotations and parenthesised glosses
 * (`(von jdm./etw.)`, `(zoologische Ordnung)`), keep the first alternative, normalise; keep the
 * pair when
 * - both sides are non-empty and at most `maxWords` words,
 * - **neither** side reads as a sentence (`isSentence`): so no dictionary pair can equal an
 *   example sentence, and none can leak a dev/test sentence into training,
 * - no bracket, brace, slash, `…` or `~` is left (half-removed annotations, abbreviation lists).
 *
 * Identical pairs are kept once. The result is in file order.
 */
export interface DictionaryOptions {
  /** Longest side kept, in words. Default `8`. */
  maxWords?: number;
}

export interface DictionaryPair {
  en: string;
  de: string;
  line: number;
}

const GLOSS = /\s*\([^()]*\)/g;
const LEFTOVER = /[()[\]{}<>/…~|]/u;

/** A dictionary sub-entry cleaned for a word/phrase pair (annotations and parenthesised glosses removed). */
export function cleanPhrase(text: string): string {
  return cleanSubEntry(text.replace(GLOSS, '').replace(GLOSS, ''));
}

/** Parses the Ding `de-en` file's text into deduplicated English–German word and phrase pairs (see above). */
export function parseDingDictionary(text: string, options: DictionaryOptions = {}): DictionaryPair[] {
  const { maxWords = 8 } = options;
  const out: DictionaryPair[] = [];
  const seen = new Set<string>();
  const words = (s: string) => s.split(' ').length;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    if (raw.startsWith('#')) return;
    const sep = raw.indexOf(' :: ');
    if (sep < 0) return;
    const de = raw.slice(0, sep).split(' | ');
    const en = raw.slice(sep + 4).split(' | ');
    if (de.length !== en.length) return;
    de.forEach((deSub, i) => {
      const g = cleanPhrase(deSub);
      const e = cleanPhrase(en[i]!);
      if (!g || !e || words(g) > maxWords || words(e) > maxWords) return;
      if (isSentence(g) || isSentence(e) || LEFTOVER.test(g) || LEFTOVER.test(e)) return;
      const key = `${e}\u0000${g}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ en: e, de: g, line: index + 1 });
    });
  });
  return out;
}

/**
 * A sentence reduced for comparing it with a dictionary phrase: lower case, final punctuation
 * and quotes removed (`"It is raining."` and `it is raining` compare equal).
 */
export function phraseKey(text: string): string {
  return text
    .toLowerCase()
    .replace(/[\s.?!…"“”’»«,;:]+$/u, '')
    .replace(/^["„“‚‘»«]+/u, '');
}

/**
 * The dictionary pairs that may join the Ding task's training data: those whose English and
 * German (by `phraseKey`) are not those of a dev or test sentence. `dropped` counts the others.
 */
export function trainingDictionary(splits: Splits<SentencePair>, dictionary: readonly DictionaryPair[]): { pairs: DictionaryPair[]; dropped: number } {
  const heldOut = new Set<string>();
  for (const p of [...splits.dev, ...splits.test]) {
    heldOut.add(phraseKey(p.en));
    heldOut.add(phraseKey(p.de));
  }
  const pairs = dictionary.filter((p) => !heldOut.has(phraseKey(p.en)) && !heldOut.has(phraseKey(p.de)));
  return { pairs, dropped: dictionary.length - pairs.length };
}
