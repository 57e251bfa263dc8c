/**
 * `pnpm --filter @attnkit/translate evaluate --task ding|numbers [--checkpoint PATH] [--split test]
 * [--limit N] [--beam K]`: scores a checkpoint on a split beside the copy-the-source baseline.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataSourceName } from '../data/sources.js';
import { copyBaseline, evaluate } from '../evaluate.js';
import { formatBleu } from '../metrics/bleu.js';
import { formatChrf } from '../metrics/chrf.js';
import { layerName } from '../explain.js';
import { DING_CHECKPOINT, NUMBERS_CHECKPOINT, dingTestSplit, loadTask } from '../tasks.js';
import { Translator } from '../translator.js';
import { numberArg, parseArgs } from './args.js';
import { startBackend } from './backend.js';

const args = parseArgs(process.argv.slice(2));
const task = (args.task ?? 'numbers') as DataSourceName;
const split = (args.split ?? 'test') as 'train' | 'dev' | 'test';
const checkpoint = typeof args.checkpoint === 'string' ? args.checkpoint : task === 'numbers' ? NUMBERS_CHECKPOINT : DING_CHECKPOINT;
await startBackend();
const started = performance.now();
const { translator, metadata, extra } = Translator.load(checkpoint);
tf.dispose(Object.values(extra));
// the Ding test split is committed beside the shipped model (no network needed)
const all = task === 'ding' && split === 'test' ? dingTestSplit().pairs : loadTask(task)[split];
const pairs = all.slice(0, numberArg(args, 'limit') ?? Number.POSITIVE_INFINITY);
const beamSize = numberArg(args, 'beam') ?? 1;
const r = evaluate(translator, pairs, { task, beamSize, batchSize: beamSize > 1 ? 16 : 64 });
const base = copyBaseline(pairs);
console.log(
  `${task} ${split} split, ${r.count} pairs, ${beamSize === 1 ? 'greedy' : `beam ${beamSize}`}; model ${translator.config.size} trained ${metadata.step} steps (${Math.round(Number(metadata.trainSeconds) / 60)} min)`,
);
for (const t of r.translations.slice(0, 5)) console.log(`  ${t.source}\n    -> ${t.output}`);
console.log(`exact match ${r.exactMatch.toFixed(1)}%`);
console.log(`${formatBleu(r.bleu)}\n  copy-the-source baseline: ${formatBleu(base.bleu)}`);
console.log(`${formatChrf(r.chrf)}\n  copy-the-source baseline: ${formatChrf(base.chrf)}`);
for (const a of r.alignment ?? []) console.log(`alignment, decoder ${layerName(a.layer)}: ${a.accuracy.toFixed(1)}% of ${a.scored} tokens`);
console.log(`${((performance.now() - started) / 1000).toFixed(1)} s`);
translator.dispose();
