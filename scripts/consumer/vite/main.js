// The page: core's attention on tfjs's wasm backend with the fused kernel registered (checked
// against core's reference path), and a model of positional layers deserialized from JSON with
// nothing but `import '@attnkit/positional'` registering them (checked against Node's output).
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { scaledDotProductAttention } from '@attnkit/core';
import { registerFusedAttention, wasmKernelInfo } from '@attnkit/kernels';
import '@attnkit/positional';
import fixture from './fixture.json';

const maxDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

async function run() {
  setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });
  await tf.setBackend('wasm');
  await registerFusedAttention();
  const [q, k, v] = ['q', 'k', 'v'].map((n) => tf.tensor(fixture[n].values, fixture[n].shape));
  const fused = scaledDotProductAttention(q, k, v, { causal: true, implementation: 'fused' });
  const reference = scaledDotProductAttention(q, k, v, { causal: true, implementation: 'reference' });
  const attentionDiff = maxDiff(await fused.data(), await reference.data());
  const model = await tf.models.modelFromJSON(fixture.topology);
  const y = model.predict(tf.tensor(fixture.x.values, fixture.x.shape));
  const positionalDiff = maxDiff(await y.data(), fixture.y);
  return { backend: tf.getBackend(), kernel: wasmKernelInfo(), crossOriginIsolated, attentionDiff, positionalDiff, layers: model.layers.map((l) => l.getClassName()) };
}

window.result = run().catch((error) => ({ error: String(error?.stack ?? error) }));
window.result.then((r) => {
  document.getElementById('out').textContent = JSON.stringify(r, null, 2);
});
