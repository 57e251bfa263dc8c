/**
 * What the browser test's page runs, on its main thread (page.ts) and in a Web Worker
 * (worker.ts): @attnkit/kernels' wasm kernel as a web app gets it. The module is fetched by URL
 * (bundled by vite as a static file), the browser picks the build (Chromium has relaxed SIMD),
 * and the module's shared memory needs cross-origin isolation (the test's server sends
 * COOP/COEP headers).
 */
import { type AttentionDims, type AttentionOptions, scaledDotProductAttention } from '@attnkit/core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';
import { type WasmKernelInfo, registerFusedAttention, wasmKernelInfo } from '../../src/index.js';

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

export interface Ready {
  kernel: WasmKernelInfo | null;
  crossOriginIsolated: boolean;
}

/** Starts tfjs's wasm backend and registers the fused kernels (`threads`: registerFusedAttention's option). */
export async function start(threads?: number): Promise<Ready> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
  await registerFusedAttention(threads === undefined ? {} : { threads });
  return { kernel: wasmKernelInfo(), crossOriginIsolated: self.crossOriginIsolated };
}

/** Output and gradients of the fused kernel ('fused': it throws rather than fall back). */
export async function run(spec: Spec, x: Inputs): Promise<Outputs> {
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

/**
 * The median time (ms) of `repeats` forward calls of the fused kernel on seeded random inputs
 * of `spec`, each read back with `data()`, after one untimed call. For apps/bench/scripts/kernels-browser.mjs:
 * timings are not tested.
 */
export async function time(spec: Spec, repeats: number): Promise<number> {
  const { B, Hq, Hkv, Tq, Tk, Dk, Dv } = spec;
  const [query, key, value] = [
    [B, Hq, Tq, Dk],
    [B, Hkv, Tk, Dk],
    [B, Hkv, Tk, Dv],
  ].map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', i + 1));
  const options: AttentionOptions = { causal: spec.causal, window: spec.window === null ? null : { left: spec.window }, implementation: 'fused' };
  const times: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    const started = performance.now();
    const output = scaledDotProductAttention(query!, key!, value!, options);
    await output.data();
    output.dispose();
    if (i > 0) times.push(performance.now() - started);
  }
  tf.dispose([query!, key!, value!]);
  return times.sort((a, b) => a - b)[times.length >> 1]!;
}

/** What the page offers the test (and apps/bench/scripts/kernels-browser.mjs), for its main thread and for its worker. */
export interface Kernels {
  ready: Promise<Ready>;
  run(spec: Spec, x: Inputs): Promise<Outputs>;
  time(spec: Spec, repeats: number): Promise<number>;
}
