/**
 * The page of the browser test (browser.test.ts): @attnkit/kernels' wasm kernel as a web app
 * gets it. The module is fetched by URL (bundled by vite as a static file), the browser picks
 * the build (Chromium has relaxed SIMD), the page's main thread may not block so a call runs on
 * it alone, and the module's shared memory needs cross-origin isolation (the test's server
 * sends COOP/COEP headers). The test passes inputs in and checks what comes back in Node.
 */
import { type AttentionDims, type AttentionOptions, scaledDotProductAttention } from '@attnkit/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { registerFusedAttention, wasmKernelInfo } from '../../src/index.js';

export interface Spec extends Omit<AttentionDims, 'group'> {
  causal: boolean;
  /** Keys before each query in a sliding window, or null. */
  window: number | null;
}

export interface Inputs {
  query: number[];
  key: number[];
  value: number[];
  /** The gradient flowing into the output. */
  dy: number[];
}

export interface Outputs {
  output: number[];
  dQuery: number[];
  dKey: number[];
  dValue: number[];
  /** Tensors left behind by the call (0 when nothing leaks). */
  leaked: number;
}

async function start() {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
  await registerFusedAttention();
  return { kernel: wasmKernelInfo(), crossOriginIsolated: self.crossOriginIsolated };
}

/** Output and gradients of the fused kernel ('fused': it throws rather than fall back). */
async function run(spec: Spec, x: Inputs): Promise<Outputs> {
  const before = tf.memory().numTensors;
  const { B, Hq, Hkv, Tq, Tk, Dk, Dv } = spec;
  const query = tf.tensor4d(x.query, [B, Hq, Tq, Dk]);
  const key = tf.tensor4d(x.key, [B, Hkv, Tk, Dk]);
  const value = tf.tensor4d(x.value, [B, Hkv, Tk, Dv]);
  const dy = tf.tensor4d(x.dy, [B, Hq, Tq, Dv]);
  const options: AttentionOptions = { causal: spec.causal, window: spec.window === null ? null : { left: spec.window }, implementation: 'fused' };
  const attend = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => scaledDotProductAttention(q, k, v, options);
  const output = attend(query, key, value);
  const [dQuery, dKey, dValue] = tf.grads(attend)([query, key, value], dy);
  const read = async (t: tf.Tensor | undefined) => Array.from(await t!.data());
  const result = { output: await read(output), dQuery: await read(dQuery), dKey: await read(dKey), dValue: await read(dValue) };
  tf.dispose([query, key, value, dy, output, dQuery!, dKey!, dValue!]);
  return { ...result, leaked: tf.memory().numTensors - before };
}

(window as unknown as { kernels: unknown }).kernels = { ready: start(), run };
