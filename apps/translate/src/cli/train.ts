/**
 * `pnpm --filter @attnkit/translate train --task numbers|ding --size tiny|small [--steps N]
 * [--minutes M] [--out PATH] [--resume] [--batch 64] [--warmup 400] [--lr-scale 1]
 * [--dropout 0.1] [--vocab N] [--eval-every 500] [--dev-limit 200] [--seed 1] [--dictionary]
 * [--dict-chunks K] [--backend wasm|cpu|webgpu]`
 *
 * Ctrl-C stops after the current step and saves a checkpoint; `--resume` continues from it.
 * The shipped sentence model's command is in the app README ("The shipped sentence model").
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataSourceName } from '../data/sources.js';
import { DATA_DIR } from '../tasks.js';
import { train } from '../train.js';
import type { ModelSize } from '../translator.js';
import { numberArg, parseArgs } from './args.js';
import { startBackend } from './backend.js';

const args = parseArgs(process.argv.slice(2));
const task = (args.task ?? 'numbers') as DataSourceName;
const size = (args.size ?? 'tiny') as ModelSize;
// A numbers model may ship with the app; a Ding model (GPL data) stays in the ignored data folder.
const shipped = fileURLToPath(new URL('../../checkpoints/', import.meta.url));
const out = typeof args.out === 'string' ? args.out : task === 'numbers' ? join(shipped, 'numbers.ckpt') : join(DATA_DIR, 'checkpoints', `${task}.ckpt`);

await startBackend(typeof args.backend === 'string' ? args.backend : 'wasm');
let stop = false;
process.on('SIGINT', () => {
  if (stop) process.exit(130);
  stop = true;
  process.stderr.write('\nstopping after this step and saving (Ctrl-C again to abandon)\n');
});
const { mkdirSync } = await import('node:fs');
mkdirSync(join(out, '..'), { recursive: true });
let result: Awaited<ReturnType<typeof train>>;
try {
  result = await train({
    task,
    size,
    out,
    steps: numberArg(args, 'steps'),
    minutes: numberArg(args, 'minutes'),
    batchSize: numberArg(args, 'batch'),
    warmup: numberArg(args, 'warmup'),
    lrScale: numberArg(args, 'lr-scale'),
    dropout: numberArg(args, 'dropout'),
    vocabSize: numberArg(args, 'vocab'),
    evalEvery: numberArg(args, 'eval-every'),
    devLimit: numberArg(args, 'dev-limit'),
    seed: numberArg(args, 'seed'),
    resume: args.resume === true,
    dictionary: args.dictionary === true,
    dictChunks: numberArg(args, 'dict-chunks'),
    command: `train ${process.argv
      .slice(2)
      .filter((a) => a !== '--resume')
      .join(' ')}`,
    shouldStop: () => stop,
  });
} catch (error) {
  // one line, not a stack trace: the messages name the problem and what to do
  console.error((error as Error).message.startsWith('train:') ? (error as Error).message : `train: ${(error as Error).message}`);
  process.exit(1);
}
console.log(
  `trained ${task}/${size} to step ${result.step} in ${Math.round(result.seconds)} s; loss ${result.loss.toFixed(3)}; dev ${JSON.stringify(result.dev)}; checkpoint ${out}`,
);
if (stop) process.exit(130);
