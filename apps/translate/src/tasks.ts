/** The two translation tasks as train/dev/test splits of sentence pairs. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttentionError } from '@attnkit/masking';
import { type DictionaryPair, type SentencePair, parseDing, parseDingDictionary, splitDing, trainingDictionary } from './data/ding.js';
import { fetchDing } from './data/fetch-ding.js';
import { type NumberPair, numberPairs, splitNumbers } from './data/numbers.js';
import type { DataSourceName } from './data/sources.js';
import type { Splits } from './split.js';

/** The app's git-ignored data folder, `apps/translate/.data/`. */
export const DATA_DIR = fileURLToPath(new URL('../.data/', import.meta.url));
/** The shipped sentence model's folder (GPL-2.0-or-later, like its training data): `apps/translate/checkpoints/ding/`. */
export const DING_DIR = fileURLToPath(new URL('../checkpoints/ding/', import.meta.url));
/** The shipped sentence model: `checkpoints/ding/model.ckpt`. */
export const DING_CHECKPOINT = join(DING_DIR, 'model.ckpt');
/** The Ding test split committed beside it (`english<TAB>german` per line), so the demo scores with no network. */
export const DING_TEST_FILE = join(DING_DIR, 'test.tsv');
/** The shipped numbers model (MIT-clean). */
export const NUMBERS_CHECKPOINT = fileURLToPath(new URL('../checkpoints/numbers.ckpt', import.meta.url));

export type TaskPairs = Splits<NumberPair> | Splits<SentencePair>;

export interface LoadTaskOptions {
  /**
   * Ding only: add the dictionary's word and phrase pairs (`parseDingDictionary`) to the train
   * split; dev and test stay the example sentences. Default `false`.
   */
  dictionary?: boolean;
}

export interface LoadedTask extends Splits<NumberPair | SentencePair> {
  /** Ding with `dictionary`: the word/phrase pairs added to train (after the train sentences). */
  dictionary: DictionaryPair[];
}

/** Numbers 0..9999 (split by number) or the Ding sentences (split by English sentence), optionally with the dictionary's pairs in train. */
export function loadTask(task: DataSourceName, options: LoadTaskOptions = {}): LoadedTask {
  if (task === 'numbers') return { ...splitNumbers(numberPairs({ max: 9999 })), dictionary: [] };
  if (task === 'ding') {
    const source = fetchDing({ cacheDir: join(DATA_DIR, 'ding') });
    const text = readFileSync(source.path, 'utf8');
    const splits = splitDing(parseDing(text).pairs);
    if (!options.dictionary) return { ...splits, dictionary: [] };
    return { ...splits, dictionary: trainingDictionary(splits, parseDingDictionary(text)).pairs };
  }
  throw AttentionError.value('loadTask', "task must be 'numbers' or 'ding'", task);
}

/** Reads an `english<TAB>german` file (as `data` writes) into pairs; throws naming the file and line. */
export function readPairs(path: string): SentencePair[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line, i) => {
    const parts = line.split('\t');
    if (parts.length !== 2 || !parts[0] || !parts[1])
      throw AttentionError.value('readPairs', `${path}:${i + 1} is not 'english<TAB>german'`, line.slice(0, 80));
    return { en: parts[0], de: parts[1], line: i + 1 };
  });
}

/** The Ding test split: the committed `checkpoints/ding/test.tsv` when present (no network), else from the corpus. */
export function dingTestSplit(): { pairs: SentencePair[]; from: string } {
  if (existsSync(DING_TEST_FILE)) return { pairs: readPairs(DING_TEST_FILE), from: DING_TEST_FILE };
  return { pairs: loadTask('ding').test as SentencePair[], from: 'the Ding corpus (fetched)' };
}
