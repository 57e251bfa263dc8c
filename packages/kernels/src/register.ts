import { FUSED_ATTENTION_GRAD_KERNEL, FUSED_ATTENTION_KERNEL, type FusedAttentionAttrs, type FusedKernelConfig } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { type Broadcast, type CallShape, type WasmAttention, type WasmBuild, loadWasmAttention, preferWasmBuild, relaxedSimdSupported } from './wasm.js';
import { webgpuBackward, webgpuForward, webgpuSupports } from './webgpu.js';
import { stridesOf } from './strides.js';

/** What the kernels need of tfjs-backend-wasm's BackendWasm (read views, write outputs). */
interface WasmBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): tf.TensorInfo;
}

/** Sizes of a call from its tensor infos and attrs. */
function shapeOf(query: tf.TensorInfo, key: tf.TensorInfo, value: tf.TensorInfo, attrs: FusedAttentionAttrs): CallShape {
  const [B, Hq, Tq, Dk] = query.shape as [number, number, number, number];
  const [, Hkv, Tk] = key.shape as [number, number, number];
  const { scale, left, right, offset, dropout = 0, seed = 0 } = attrs;
  return { B, Hq, Hkv, Tq, Tk, Dk, Dv: value.shape[3]!, scale, left, right, offset, dropout, seed };
}

function inputsOf(backend: WasmBackend, inputs: tf.NamedTensorInfoMap) {
  const { query, key, value, mask, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const read = (t: tf.TensorInfo) => backend.typedArrayFromHeap(t);
  return {
    query: read(query!) as Float32Array,
    key: read(key!) as Float32Array,
    value: read(value!) as Float32Array,
    mask: mask ? ({ values: read(mask) as Uint8Array, strides: stridesOf(mask.shape) } satisfies Broadcast<Uint8Array>) : null,
    bias: bias ? ({ values: read(bias) as Float32Array, strides: stridesOf(bias.shape) } satisfies Broadcast<Float32Array>) : null,
  };
}

/** A float32 output allocated on the wasm backend's heap, filled from `values` (a view of the module's memory). */
function outputFrom(backend: WasmBackend, shape: number[], values: Float32Array): tf.TensorInfo {
  const info = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(info).set(values);
  return info;
}

function forwardKernel(module: WasmAttention): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackend;
    const { query, key, value } = inputs as Record<string, tf.TensorInfo>;
    const s = shapeOf(query!, key!, value!, attrs as unknown as FusedAttentionAttrs);
    // Inputs are copied into the module's memory before any output is allocated on the backend's
    // heap (an allocation may grow it, which detaches the views of the inputs).
    return module.forward(s, inputsOf(wasm, inputs), (output, lse) => [
      outputFrom(wasm, [s.B, s.Hq, s.Tq, s.Dv], output),
      outputFrom(wasm, [s.B, s.Hq, s.Tq], lse),
    ]);
  };
}

function backwardKernel(module: WasmAttention): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const wasm = backend as unknown as WasmBackend;
    const { query, key, value, bias, output, lse, dy } = inputs as Record<string, tf.TensorInfo | undefined>;
    const s = shapeOf(query!, key!, value!, attrs as unknown as FusedAttentionAttrs);
    const read = (t: tf.TensorInfo) => wasm.typedArrayFromHeap(t) as Float32Array;
    const backwardInputs = {
      ...inputsOf(wasm, inputs),
      output: read(output!),
      lse: read(lse!),
      dy: read(dy!),
      biasSize: bias ? tf.util.sizeFromShape(bias.shape) : 0,
    };
    return module.backward(s, backwardInputs, (grads) => {
      const outs = [outputFrom(wasm, query!.shape, grads.dQuery), outputFrom(wasm, key!.shape, grads.dKey), outputFrom(wasm, value!.shape, grads.dValue)];
      if (bias && grads.dBias) outs.push(outputFrom(wasm, bias.shape, grads.dBias));
      return outs;
    });
  };
}

let loading: Promise<WasmAttention> | null = null;
let loaded: WasmAttention | null = null;

/** Loads the wasm module once (its first caller's `threads` and `build` win). */
export async function wasmModule(threads?: number, build?: WasmBuild | 'auto'): Promise<WasmAttention> {
  loading ??= (async () => {
    if (build === 'relaxed') await enableRelaxedSimd();
    if (build) preferWasmBuild(build);
    return loadWasmAttention(threads);
  })();
  loaded = await loading;
  return loaded;
}

/**
 * Node 20 has relaxed SIMD behind a V8 flag (Node >= 22 and Chromium have it on): turns it on
 * before the module compiles. Elsewhere it does nothing, and loading the relaxed build then says
 * that the engine lacks it.
 */
async function enableRelaxedSimd(): Promise<void> {
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  if (relaxedSimdSupported() || !node) return;
  const v8Module = 'node:v8'; // this package has no Node types
  const v8 = (await import(/* @vite-ignore */ v8Module)) as { setFlagsFromString(flags: string): void };
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** What {@link wasmKernelInfo} reports. */
export interface WasmKernelInfo {
  /** `relaxed`: the relaxed-SIMD build (fused multiply-adds); `simd`: the WebAssembly SIMD build. */
  build: WasmBuild;
  /** Threads one call runs on (the calling thread plus helper threads). */
  threads: number;
}

/**
 * Which build of the wasm kernel {@link registerFusedAttention} loaded and on how many threads
 * a call runs; null before it has loaded.
 */
export function wasmKernelInfo(): WasmKernelInfo | null {
  return loaded ? { build: loaded.build, threads: loaded.threads } : null;
}

export interface RegisterOptions {
  /**
   * Threads one call runs on: the calling thread plus `threads - 1` helper threads over shared
   * memory (Node worker_threads; in a browser, Web Workers, when called from a Web Worker: a
   * page's main thread may not block, so there it runs alone). Read on the first call only.
   * Default: the number of logical cores, at most 4.
   */
  threads?: number;
  /**
   * Which build of the wasm module: `'auto'` (default) the relaxed-SIMD build (fused
   * multiply-adds) where the engine runs relaxed SIMD, else the SIMD build; `'relaxed'` that
   * build always, on Node 20 by turning on V8's `--experimental-wasm-relaxed-simd` (an error
   * where the engine has no relaxed SIMD); `'simd'` the SIMD build. Read on the first call only.
   */
  build?: WasmBuild | 'auto';
}

/**
 * Registers the fused attention kernels (forward and backward) under the names @attnkit/core
 * dispatches to, for tfjs's `wasm` backend (WebAssembly SIMD) and `webgpu` backend (WGSL; the
 * backend package, @tensorflow/tfjs-backend-webgpu, is needed only to use it): from then on
 * `scaledDotProductAttention` with `implementation: 'auto'` (the default) or `'fused'` runs
 * them on those backends. Loads and compiles the wasm module once; calling again does nothing
 * more. The wasm kernel requires WebAssembly SIMD and shared WebAssembly memory (Node >= 20,
 * current browsers with cross-origin isolation).
 */
export async function registerFusedAttention(options: RegisterOptions = {}): Promise<void> {
  registerWebGPUAttention();
  const module = await wasmModule(options.threads, options.build);
  if (tf.getKernel(FUSED_ATTENTION_KERNEL, 'wasm') == null) {
    const config: FusedKernelConfig = { kernelName: FUSED_ATTENTION_KERNEL, backendName: 'wasm', kernelFunc: forwardKernel(module), dropout: true };
    tf.registerKernel(config);
  }
  if (tf.getKernel(FUSED_ATTENTION_GRAD_KERNEL, 'wasm') == null) {
    tf.registerKernel({ kernelName: FUSED_ATTENTION_GRAD_KERNEL, backendName: 'wasm', kernelFunc: backwardKernel(module) });
  }
}

/**
 * Registers only the `webgpu` kernels (synchronous: WGSL needs no loading; pipelines compile on
 * first use). {@link registerFusedAttention} calls it too.
 */
export function registerWebGPUAttention(): void {
  if (tf.getKernel(FUSED_ATTENTION_KERNEL, 'webgpu') == null) {
    const forward: FusedKernelConfig = { kernelName: FUSED_ATTENTION_KERNEL, backendName: 'webgpu', kernelFunc: webgpuForward, supports: webgpuSupports };
    tf.registerKernel(forward);
  }
  if (tf.getKernel(FUSED_ATTENTION_GRAD_KERNEL, 'webgpu') == null) {
    tf.registerKernel({ kernelName: FUSED_ATTENTION_GRAD_KERNEL, backendName: 'webgpu', kernelFunc: webgpuBackward });
  }
}

/** Removes the kernels registered by {@link registerFusedAttention}, on wasm and webgpu (core falls back to its own paths). */
export function unregisterFusedAttention(): void {
  for (const backend of ['wasm', 'webgpu']) {
    for (const name of [FUSED_ATTENTION_KERNEL, FUSED_ATTENTION_GRAD_KERNEL]) {
      if (tf.getKernel(name, backend) != null) tf.unregisterKernel(name, backend);
    }
  }
}
