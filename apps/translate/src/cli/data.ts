/**
 * `pnpm --filter @attnkit/translate data`: prepares both tasks' data under `apps/translate/.data/`
 * (git-ignored).
 *
 * - `numbers/{train,dev,test}.tsv`: generated from n2words (MIT), 0..9999 unless `--max N`.
 * - `ding/{train,dev,test}.tsv`: the Ding example sentences (GPL-2+), fetched with apt, split by
 *   English sentence; `ding/dictionary.tsv`: the dictionary's word and phrase pairs, extra
 *   training data only (`train --dictionary`), none equal to a dev or test sentence. The test
 *   split is also written to `checkpoints/ding/test.tsv`, the copy committed beside the shipped
 *   sentence model (same licence) so the demo scores it with no network; an unchanged corpus
 *   rewrites it byte for byte. Where apt is unavailable this prints why and carries on (exit 0);
 *   pass `--require-ding` to fail instead.
 *
 * Each TSV line is `english<TAB>german`; `manifest.json` records counts, seeds and sources.
 */

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDing, parseDingDictionary, splitDing, trainingDictionary } from '../data/ding.js';
import { fetchDing } from '../data/fetch-ding.js';
import { numberPairs, splitNumbers } from '../data/numbers.js';
import type { Splits } from '../split.js';
import { DING_DIR, DING_TEST_FILE } from '../tasks.js';

const root = fileURLToPath(new URL('../../.data/', import.meta.url));
const args = process.argv.slice(2);
const maxArg = args.indexOf('--max');
const max = maxArg >= 0 ? Number(args[maxArg + 1]) : 9999;
const requireDing = args.includes('--require-ding');

function writeSplits(dir: string, splits: Splits<{ en: string; de: string }>): Record<string, number> {
  mkdirSync(dir, { recursive: true });
  const counts: Record<string, number> = {};
  for (const name of ['train', 'dev', 'test'] as const) {
    writeFileSync(join(dir, `${name}.tsv`), splits[name].map((p) => `${p.en}\t${p.de}\n`).join(''));
    counts[name] = splits[name].length;
  }
  return counts;
}

const manifest: Record<string, unknown> = {};

// 1) numbers: always available
const numbers = splitNumbers(numberPairs({ max }));
manifest.numbers = { source: 'n2words 4.0.0 (MIT)', range: [0, max], seed: 'numbers', counts: writeSplits(join(root, 'numbers'), numbers) };
console.log(`numbers: 0..${max} -> ${JSON.stringify((manifest.numbers as { counts: unknown }).counts)} in ${join(root, 'numbers')}`);

// 2) ding: only where apt (or a local copy) is available
try {
  const source = fetchDing({ cacheDir: join(root, 'ding') });
  const text = readFileSync(source.path, 'utf8');
  const parsed = parseDing(text);
  const splits = splitDing(parsed.pairs);
  const counts = writeSplits(join(root, 'ding'), splits);
  const dictionary = trainingDictionary(splits, parseDingDictionary(text));
  writeFileSync(join(root, 'ding', 'dictionary.tsv'), dictionary.pairs.map((p) => `${p.en}\t${p.de}\n`).join(''));
  mkdirSync(DING_DIR, { recursive: true });
  writeFileSync(DING_TEST_FILE, splits.test.map((p) => `${p.en}\t${p.de}\n`).join(''));
  manifest.ding = {
    source: 'Debian trans-de-en (Ding, GPL-2.0-or-later): commit only under checkpoints/ding/ with its LICENSE',
    file: source.path,
    origin: source.origin,
    seed: 'ding',
    pairs: parsed.pairs.length,
    malformedLines: parsed.malformed,
    duplicates: parsed.duplicates,
    counts,
    dictionaryPairs: dictionary.pairs.length,
    dictionaryPairsDroppedAsHeldOut: dictionary.dropped,
  };
  console.log(`ding: ${parsed.pairs.length} sentence pairs (${source.origin}: ${source.path}) -> ${JSON.stringify(counts)} in ${join(root, 'ding')}`);
  console.log(
    `ding: ${dictionary.pairs.length} dictionary word/phrase pairs (train only; ${dictionary.dropped} dropped as equal to a dev/test sentence) -> ${join(root, 'ding', 'dictionary.tsv')}`,
  );
  console.log(`ding: test split (${splits.test.length} pairs) -> ${DING_TEST_FILE} (committed beside the shipped model, GPL-2.0-or-later)`);
} catch (error) {
  manifest.ding = { unavailable: (error as Error).message };
  console.error(`ding: UNAVAILABLE. ${(error as Error).message}`);
  if (requireDing) process.exitCode = 1;
}

writeFileSync(join(root, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
