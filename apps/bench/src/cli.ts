/**
 * `pnpm bench`: plan the configurations, run each in its own process with a progress bar,
 * then write results.json, results.md and charts, and print the table.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BenchArgError, USAGE, parseArgs } from './args.js';
import { IMPLEMENTATION_LIST } from './impls/index.js';
import { machineInfo } from './machine.js';
import { expandMatrix } from './matrix.js';
import { ceilingsOf, writeOutputs } from './output.js';
import { Progress } from './progress.js';
import { childNodeFlags, runPlan } from './runner.js';
import type { BenchReport } from './types.js';

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof BenchArgError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.list) {
    for (const impl of IMPLEMENTATION_LIST) {
      process.stdout.write(`${impl.name.padEnd(24)} ${impl.backends.join(',').padEnd(18)} ${impl.modes.join(',')}\n    ${impl.description}\n`);
    }
    return 0;
  }

  const plan = expandMatrix(options, IMPLEMENTATION_LIST);
  const startedAt = new Date().toISOString();
  const progress = new Progress(plan.length, options.progress);
  process.stderr.write(`bench: ${plan.length} configurations (preset ${options.preset}), each in its own process\n`);
  const nodeFlags = childNodeFlags(options.relaxedSimd);
  const results = await runPlan(
    plan,
    options.timeoutS,
    {
      onStart: (i, planned) => progress.start(i, planned),
      onDone: (i, result) => progress.done(i, plan[i]!, result),
    },
    nodeFlags,
  );
  const report: BenchReport = {
    command: ['pnpm bench', ...argv.filter((a) => a !== '--')].join(' '),
    preset: options.preset,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(nodeFlags),
    ceilings: ceilingsOf(results),
    results,
  };
  const descriptions = Object.fromEntries(IMPLEMENTATION_LIST.map((i) => [i.name, i.description]));
  const files = await writeOutputs(resolve(options.out), report, descriptions);
  process.stdout.write(`${await readFile(files[1]!, 'utf8')}\n`);
  process.stdout.write(`Wrote:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
