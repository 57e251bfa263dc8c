// Forward time of @attnkit/multi-head's MultiHeadAttention vs tfjs-layers' internal one.
//   pnpm build && node apps/bench/scripts/mha-layer.mjs [--quick]
// Runs against the built packages. Prints one line per measurement: backend, layer, shape, median ms.
// tfjs-layers' layer is timed once (a forward takes over 15 s on cpu) and only on cpu: it uses
// einsum, which the wasm backend does not register.
import { register } from 'node:module';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { KVCache, MultiHeadAttention } from '@attnkit/multi-head';

register('./tfjs-layers-esm.mjs', import.meta.url);
const quick = process.argv.includes('--quick');
const [B, T, d, N] = [1, 128, 512, 8];
const H = d / N;

async function median(fn, runs, warmUp = true) {
  if (warmUp) tf.dispose(fn()); // warm-up (kernels, wasm pages)
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = fn();
    await (Array.isArray(out) ? out[0] : out).data(); // wait for the result
    times.push(performance.now() - t0);
    tf.dispose(out);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function report(backend, what, ms, runs) {
  console.log(`${backend.padEnd(5)} ${what.padEnd(58)} ${ms.toFixed(1).padStart(9)} ms  (median of ${runs})`);
}

async function ours(backend, implementation, runs) {
  const layer = new MultiHeadAttention({ numHeads: N, keyDim: H, implementation, queryShape: [null, null, d], valueShape: [null, null, d] });
  const x = tf.randomNormal([B, T, d]);
  const ms = await median(() => layer.call(x, { value: x }), runs);
  report(backend, `attnkit MultiHeadAttention (${implementation}) B=${B} T=${T} d=${d} N=${N}`, ms, runs);
  x.dispose();
  layer.dispose();
}

async function decode(backend, steps) {
  const layer = new MultiHeadAttention({ numHeads: N, keyDim: H, queryShape: [null, null, d], valueShape: [null, null, d] });
  const x = tf.randomNormal([B, 1, d]);
  const cache = new KVCache({ maxLength: steps });
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const y = layer.call(x, { value: x, useCausalMask: true, cache });
    await y.data();
    y.dispose();
  }
  const per = (performance.now() - t0) / steps;
  console.log(`${backend.padEnd(5)} ${`attnkit decode with KVCache, ${steps} steps, d=${d} N=${N}`.padEnd(58)} ${per.toFixed(2).padStart(9)} ms/token`);
  cache.dispose();
  x.dispose();
  layer.dispose();
}

async function peer(runs) {
  const { MultiHeadAttention: Peer } = await import('@tensorflow/tfjs-layers/dist/layers/nlp/multihead_attention.js');
  const layer = new Peer({ numHeads: N, keyDim: H });
  const x = tf.randomNormal([B, T, d]);
  // No warm-up: one forward takes tens of seconds and its kernels are plain JS (nothing to compile).
  const ms = await median(() => layer.call(x, { value: x }), runs, false);
  report('cpu', `tfjs-layers 4.22 internal MultiHeadAttention B=${B} T=${T} d=${d} N=${N}`, ms, runs);
  x.dispose();
}

async function peerFailsOnWasm() {
  const { MultiHeadAttention: Peer } = await import('@tensorflow/tfjs-layers/dist/layers/nlp/multihead_attention.js');
  const x = tf.randomNormal([1, 4, 16]);
  try {
    tf.dispose(new Peer({ numHeads: 2, keyDim: 8 }).call(x, { value: x }));
    console.log('wasm  tfjs-layers internal MultiHeadAttention ran');
  } catch (e) {
    console.log(`wasm  tfjs-layers internal MultiHeadAttention fails: ${e.message}`);
  }
  x.dispose();
}

for (const backend of ['cpu', 'wasm']) {
  await tf.setBackend(backend);
  await tf.ready();
  for (const implementation of ['auto', 'reference', 'sliced']) await ours(backend, implementation, quick ? 3 : 9);
  await decode(backend, quick ? 32 : 128);
  if (backend === 'cpu') await peer(1);
  else await peerFailsOnWasm();
}
