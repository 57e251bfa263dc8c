#!/usr/bin/env node
// Peak memory and median time of chunked vs reference attention, forward and forward +
// backward, B = 1, H = 8, d = 64, full (non-causal) attention, on the wasm backend.
//
//   pnpm build && pnpm --filter @attnkit/bench chunked-memory
//   pnpm --filter @attnkit/bench chunked-memory --T=1024,4096 --impl=chunked,reference,sliced \
//     --mode=fwd,fwdbwd --reps=3 --backend=wasm --chunk=512 --causal --cap=600
//
// Each configuration runs in a child process (a wasm heap that grows never shrinks, and an
// out-of-memory abort must not end the sweep), limited to --cap seconds. The reference is
// skipped where its [B, H, T, T] scores alone would pass --maxScoresGB (default 1 GB; the
// wasm heap stops at 4 GB). Memory is the peak of distinct tensor buffers allocated during
// the call above the inputs ("buffers"), the same without the autograd tape's saved copies
// ("no tape"; tfjs-wasm copies every tensor an op saves for its gradient), and tfjs's own
// tf.memory().numBytes peak, which counts every view (reshape, clone) of a buffer again.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=');
    return [k, v];
  }),
);

if (args.one) await runOne(JSON.parse(args.one));
else sweep();

function sweep() {
  const Ts = (args.T ?? '1024,4096,8192,16384').split(',').map(Number);
  const impls = (args.impl ?? 'reference,chunked').split(',');
  const modes = (args.mode ?? 'fwd,fwdbwd').split(',');
  const reps = Number(args.reps ?? 3);
  const cap = Number(args.cap ?? 900);
  const maxScoresGB = Number(args.maxScoresGB ?? 1);
  const backend = args.backend ?? 'wasm';
  const chunk = args.chunk ? args.chunk.split('x').map(Number) : null;
  const causal = args.causal === 'true';
  console.log(
    `backend ${backend}, B=1, H=8, d=64, ${causal ? 'causal' : 'full'} attention, median of ${reps} runs after a warm-up (T < 4096); one run, the measured one (T >= 4096)`,
  );
  console.log('| T | impl | pass | peak MiB (buffers) | peak MiB (no tape) | peak MiB (tf numBytes) | median ms |');
  console.log('|---|---|---|---|---|---|---|');
  for (const T of Ts)
    for (const impl of impls)
      for (const mode of modes) {
        const scoresGB = (8 * T * T * 4) / 2 ** 30;
        const row = (cells) => console.log(`| ${T} | ${impl} | ${mode} | ${cells} |`);
        if (impl !== 'chunked' && scoresGB > maxScoresGB) {
          row(`skipped: scores alone ${scoresGB.toFixed(1)} GiB | | | |`);
          continue;
        }
        const one = { T, impl, mode, backend, reps: T >= 4096 ? 1 : reps, causal, chunk };
        const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=${JSON.stringify(one)}`], {
          encoding: 'utf8',
          timeout: cap * 1000,
        });
        const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
        if (!line) {
          const why =
            child.error?.code === 'ETIMEDOUT'
              ? `over the ${cap} s cap`
              : `failed: ${(child.stderr || '').split('\n').find((l) => /error|abort/i.test(l)) ?? 'no output'}`;
          row(`${why} | | | |`);
          continue;
        }
        const r = JSON.parse(line);
        row(`${r.peak.toFixed(1)} | ${r.peakWithoutTape.toFixed(1)} | ${r.peakNumBytes.toFixed(1)} | ${r.median.toFixed(0)}`);
      }
}

async function runOne({ T, impl, mode, backend, reps, causal, chunk }) {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs'); // registers the gradients
  const { peakMemory } = await import('@attnkit/test-utils'); // TypeScript: the script runs under tsx
  await import('@tensorflow/tfjs-backend-wasm');
  await import('@tensorflow/tfjs-backend-cpu');
  const { scaledDotProductAttention } = await import('@attnkit/core');
  await tf.setBackend(backend);
  await tf.ready();
  const shape = [1, 8, T, 64];
  const [q, k, v, dOut] = [0, 1, 2, 3].map(() => tf.randomUniform(shape, -1, 1));
  const options = { implementation: impl, causal, ...(chunk ? { chunkSize: { query: chunk[0], key: chunk[1] ?? chunk[0] } } : {}) };
  const call = () => {
    if (mode === 'fwd') {
      const out = scaledDotProductAttention(q, k, v, options);
      out.dataSync();
      out.dispose();
    } else {
      const grads = tf.grads((a, b, c) => scaledDotProductAttention(a, b, c, options))([q, k, v], dOut);
      grads[0].dataSync();
      tf.dispose(grads);
    }
  };
  const t0 = performance.now();
  const memory = peakMemory(call); // also the warm-up run, timed where reps is 1
  const times = reps <= 1 ? [performance.now() - t0] : [];
  for (let r = 0; r < reps && reps > 1; r++) {
    const t0 = performance.now();
    call();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const MiB = 2 ** 20;
  console.log(
    JSON.stringify({
      peak: memory.peak / MiB,
      peakWithoutTape: memory.peakWithoutTape / MiB,
      peakNumBytes: memory.peakNumBytes / MiB,
      median: times[Math.floor(times.length / 2)],
    }),
  );
}
