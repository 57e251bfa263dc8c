/** The two translation tasks as train/dev/test splits of sentence pairs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttentionError } from '@attnkit/masking';
import { type SentencePair, parseDing, splitDing } from './data/ding.js';
import { fetchDing } from './data/fetch-ding.js';
import { type NumberPair, numberPairs, splitNumbers } from './data/numbers.js';
import type { DataSourceName } from './data/sources.js';
import type { Splits } from './split.js';

/** The app's git-ignored data folder, `apps/translate/.data/`. */
export const DATA_DIR = fileURLToPath(new URL('../.data/', import.meta.url));

export type TaskPairs = Splits<NumberPair> | Splits<SentencePair>;

/** Numbers 0..9999 (split by number) or the Ding sentences (split by English sentence). */
export function loadTask(task: DataSourceName): Splits<NumberPair | SentencePair> {
  if (task === 'numbers') return splitNumbers(numberPairs({ max: 9999 }));
  if (task === 'ding') {
    const source = fetchDing({ cacheDir: join(DATA_DIR, 'ding') });
    return splitDing(parseDing(readFileSync(source.path, 'utf8')).pairs);
  }
  throw AttentionError.value('loadTask', "task must be 'numbers' or 'ding'", task);
}
