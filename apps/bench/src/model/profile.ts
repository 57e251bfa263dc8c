/**
 * `pnpm --filter @attnkit/bench profile-step --size tiny --batch 64x20`: where one training
 * step of the translate model goes on tfjs's wasm backend with @attnkit/kernels registered.
 * Prints the step's wall time (median of --steps), then one profiled step (tf.profile): kernel
 * count, the sum of kernel times, the time outside kernels (wall - kernels: op dispatch,
 * tidy bookkeeping, JS), and a table of kernels by total time.
 */
import { registerFusedAttention, registerTrainingKernels, wasmKernelInfo } from '@attnkit/kernels';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { parseModelArgs } from './args.js';
import { AttnkitTrainer } from './attnkit.js';

async function main() {
  const args = parseModelArgs(process.argv.slice(2));
  await tf.setBackend(args.backend);
  if (args.fused) {
    await registerFusedAttention({ build: args.build });
    await registerTrainingKernels({ build: args.build });
  }
  for (const size of args.sizes) {
    for (const [B, T] of args.batches) {
      const trainer = new AttnkitTrainer(size, B, T);
      for (let i = 0; i < args.warmup; i++) trainer.step();
      const times: number[] = [];
      for (let i = 0; i < args.steps; i++) {
        const t0 = performance.now();
        trainer.step();
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const median = times[Math.floor(times.length / 2)]!;
      const t0 = performance.now();
      const profile = await tf.profile(() => trainer.step());
      const wall = performance.now() - t0;
      // Only leaf kernels: scopes (customGrad's "backward", named ops) nest other kernels.
      const leaves = profile.kernels.filter((k) => !/scope|backward|__op$/.test(k.name) && !k.name.includes('__'));
      const byName = new Map<string, { n: number; ms: number }>();
      for (const k of leaves) {
        const e = byName.get(k.name) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += k.kernelTimeMs as number;
        byName.set(k.name, e);
      }
      const kernelMs = leaves.reduce((s, k) => s + (k.kernelTimeMs as number), 0);
      const lines = [
        `## ${size} ${B}x${T} (backend ${args.backend}${args.fused ? `, attnkit kernels registered (${wasmKernelInfo()?.build} build)` : ', no attnkit kernels'})`,
        '',
        `step median ${median.toFixed(1)} ms over ${args.steps} steps (${times.map((t) => t.toFixed(0)).join(' ')})`,
        `profiled step: wall ${wall.toFixed(1)} ms, ${leaves.length} kernels, kernel time ${kernelMs.toFixed(1)} ms, outside kernels ${(wall - kernelMs).toFixed(1)} ms`,
        '',
        '| kernel | calls | ms | % of kernel time |',
        '|---|---:|---:|---:|',
        ...[...byName]
          .sort((a, b) => b[1].ms - a[1].ms)
          .map(([name, e]) => `| ${name} | ${e.n} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / kernelMs).toFixed(1)} |`),
        '',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      trainer.dispose();
    }
  }
}

await main();
