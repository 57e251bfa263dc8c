/**
 * The training-step kernels @attnkit/core dispatches to (core's training.ts states their
 * contracts), for tfjs's `wasm` backend: layer norm forward and backward, a dense layer's
 * bias + activation gradient, softmax cross-entropy with label smoothing forward and backward,
 * the gather gradient tfjs-wasm lacks (UnsortedSegmentSum), and one Adam update over every
 * variable (ADAM_KERNEL). These ops are memory-bound, and tfjs runs each of them as 5–30
 * kernels of its own. Layer norm, the bias + activation gradient and the cross-entropy run in
 * the kernels' wasm module (SIMD, assembly/rows.ts: 4–14× faster than the JavaScript loops they
 * replaced); the gather gradient and Adam are one pass over the backend's heap in JavaScript.
 *
 * Every kernel allocates its outputs first and takes views of its inputs after: an allocation
 * may grow the heap, which detaches earlier views.
 */
import {
  ADAM_KERNEL,
  BIAS_ACTIVATION_GRAD_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  type MatMulKernelConfig,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
} from '@attnkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { type RegisterOptions, wasmModule } from './register.js';
import type { WasmAttention } from './wasm.js';

interface WasmBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type Args = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function views(backend: WasmBackend, ...infos: tf.TensorInfo[]): Float32Array[] {
  return infos.map((t) => backend.typedArrayFromHeap(t) as Float32Array);
}

/** The module the row-wise kernels run in: set by {@link registerTrainingKernels}. */
let rowModule: WasmAttention | null = null;

/** Copies the module's views into fresh tfjs outputs (allocated first: an allocation may grow the heap). */
function outputsFrom(wasm: WasmBackend, shapes: number[][], views: Float32Array[]): tf.TensorInfo[] {
  const outs = shapes.map((shape) => wasm.makeOutput(shape, 'float32'));
  for (const [i, o] of outs.entries()) (wasm.typedArrayFromHeap(o) as Float32Array).set(views[i]!);
  return outs;
}

function layerNormForward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
  const d = x!.shape[x!.shape.length - 1]!;
  const N = tf.util.sizeFromShape(x!.shape) / d;
  const epsilon = (attrs as { epsilon: number }).epsilon;
  return rowModule!.rows('layerNormForward', views(wasm, x!, gamma!, beta!), [N * d, N, N], 0, [N, d, epsilon], (outs) =>
    outputsFrom(wasm, [x!.shape, [N], [N]], outs),
  );
}

function layerNormBackward({ inputs, backend }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { x, gamma, mean, rstd, dy } = inputs as Record<string, tf.TensorInfo>;
  const d = x!.shape[x!.shape.length - 1]!;
  const N = tf.util.sizeFromShape(x!.shape) / d;
  return rowModule!.rows('layerNormBackward', views(wasm, x!, gamma!, mean!, rstd!, dy!), [N * d, d, d], 2 * d, [N, d], (outs) =>
    outputsFrom(wasm, [x!.shape, [d], [d]], outs),
  );
}

function biasActivationBackward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { y, dy } = inputs as Record<string, tf.TensorInfo>;
  const [N, u] = y!.shape as [number, number];
  const relu = (attrs as { activation: string }).activation === 'relu' ? 1 : 0;
  return rowModule!.rows('biasActivationBackward', views(wasm, y!, dy!), [N * u, u], u, [N, u, relu], (outs) => outputsFrom(wasm, [[N, u], [u]], outs));
}

function crossEntropyForward({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { logits, probs, labels } = inputs as Record<string, tf.TensorInfo>;
  const [N, V] = logits!.shape as [number, number];
  const eps = (attrs as { labelSmoothing: number }).labelSmoothing;
  const [x, p] = views(wasm, logits!, probs!);
  const ids = wasm.typedArrayFromHeap(labels!) as Int32Array;
  return rowModule!.rows('crossEntropyForward', [x!, p!, ids], [N], 0, [N, V, eps], (outs) => outputsFrom(wasm, [[N]], outs))[0]!;
}

function crossEntropyBackward({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { probs, labels, dy } = inputs as Record<string, tf.TensorInfo>;
  const [N, V] = probs!.shape as [number, number];
  const eps = (attrs as { labelSmoothing: number }).labelSmoothing;
  const [p, g] = views(wasm, probs!, dy!);
  const ids = wasm.typedArrayFromHeap(labels!) as Int32Array;
  return rowModule!.rows('crossEntropyBackward', [p!, ids, g!], [N * V], 0, [N, V, eps], (outs) => outputsFrom(wasm, [[N, V]], outs))[0]!;
}

/** tfjs' UnsortedSegmentSum (the gradient of gather): x [S..., inner...], segmentIds [S...] -> [numSegments, inner...]. */
function unsortedSegmentSum({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { x, segmentIds } = inputs as Record<string, tf.TensorInfo>;
  const numSegments = (attrs as { numSegments: number }).numSegments;
  const n = tf.util.sizeFromShape(segmentIds!.shape);
  const inner = tf.util.sizeFromShape(x!.shape) / Math.max(n, 1);
  const out = wasm.makeOutput([numSegments, ...x!.shape.slice(segmentIds!.shape.length)], x!.dtype);
  const xs = wasm.typedArrayFromHeap(x!);
  const ids = wasm.typedArrayFromHeap(segmentIds!) as Int32Array;
  const dst = wasm.typedArrayFromHeap(out);
  dst.fill(0);
  for (let i = 0; i < n; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const from = i * inner;
    const to = s * inner;
    for (let j = 0; j < inner; j++) dst[to + j] = dst[to + j]! + xs[from + j]!;
  }
  return out;
}

/**
 * One Adam step over `count` variables: inputs value{i}, m{i}, v{i}, grad{i}; attrs lr, beta1,
 * beta2, epsilon and the bias corrections 1 - β1^t, 1 - β2^t -> [value'0, m'0, v'0, value'1, …],
 * the arithmetic of tf.train.adam in float32.
 */
function adam({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const a = attrs as { count: number; lr: number; beta1: number; beta2: number; epsilon: number; correction1: number; correction2: number };
  const f = Math.fround;
  const [b1, b2, lr, epsilon, c1, c2] = [f(a.beta1), f(a.beta2), f(a.lr), f(a.epsilon), f(a.correction1), f(a.correction2)];
  const [ob1, ob2] = [f(1 - a.beta1), f(1 - a.beta2)];
  const ins = inputs as Record<string, tf.TensorInfo>;
  const outs: tf.TensorInfo[] = [];
  for (let i = 0; i < a.count; i++) {
    const shape = ins[`value${i}`]!.shape;
    outs.push(wasm.makeOutput(shape, 'float32'), wasm.makeOutput(shape, 'float32'), wasm.makeOutput(shape, 'float32'));
  }
  for (let i = 0; i < a.count; i++) {
    const [value, m, v, g, nv, nm, ns] = views(
      wasm,
      ins[`value${i}`]!,
      ins[`m${i}`]!,
      ins[`v${i}`]!,
      ins[`grad${i}`]!,
      outs[3 * i]!,
      outs[3 * i + 1]!,
      outs[3 * i + 2]!,
    ) as Float32Array[];
    for (let j = 0; j < value!.length; j++) {
      const gj = g![j]!;
      const m1 = f(f(m![j]! * b1) + f(gj * ob1));
      const v1 = f(f(v![j]! * b2) + f(f(gj * gj) * ob2));
      nm![j] = m1;
      ns![j] = v1;
      nv![j] = f(value![j]! + f(f(f(m1 / c1) / f(f(Math.sqrt(f(v1 / c2))) + epsilon)) * -lr));
    }
  }
  return outs;
}

const KERNELS: Array<[string, (args: Args) => tf.TensorInfo | tf.TensorInfo[]]> = [
  [LAYER_NORM_KERNEL, layerNormForward],
  [LAYER_NORM_GRAD_KERNEL, layerNormBackward],
  [BIAS_ACTIVATION_GRAD_KERNEL, biasActivationBackward],
  [SOFTMAX_CROSS_ENTROPY_KERNEL, crossEntropyForward],
  [SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, crossEntropyBackward],
  ['UnsortedSegmentSum', unsortedSegmentSum],
  [ADAM_KERNEL, adam],
];

/** tfjs-wasm's own BatchMatMul, while ours is registered in its place. */
let xnnMatMul: tf.KernelConfig | null = null;

/** Products smaller than this many multiply-adds stay on tfjs-wasm's (XNNPACK, one thread): a call to the module costs more than they take. */
export const MATMUL_MIN_MACS = 2 ** 18;

function batchMatMul(module: WasmAttention, fallback: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs as Record<string, tf.TensorInfo>;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const [ra, rb] = [a!.shape.length, b!.shape.length];
    const single = (shape: number[]) => shape.slice(0, -2).every((d) => d === 1);
    const M = a!.shape[transposeA ? ra - 1 : ra - 2]!;
    const K = a!.shape[transposeA ? ra - 2 : ra - 1]!;
    const N = b!.shape[transposeB ? rb - 2 : rb - 1]!;
    if (!single(a!.shape) || !single(b!.shape) || a!.dtype !== 'float32' || b!.dtype !== 'float32' || M * N * K < MATMUL_MIN_MACS) {
      return fallback.kernelFunc(args);
    }
    const wasm = backend as WasmBackend;
    const [av, bv] = views(wasm, a!, b!) as [Float32Array, Float32Array];
    const shape = [...new Array(Math.max(ra, rb) - 2).fill(1), M, N];
    return module.matmul({ M, K, N, transposeA, transposeB }, av, bv, (c) => {
      const out = wasm.makeOutput(shape, 'float32');
      wasm.typedArrayFromHeap(out).set(c);
      return out;
    });
  };
}

/**
 * Registers the training kernels for tfjs's `wasm` backend. From then on @attnkit/core's
 * `layerNorm`, `dense`, `softmaxCrossEntropy`, `embeddingLookup` and `Adam` take their fused
 * paths on wasm, `tf.gather` has a gradient there, and matrix products of at least
 * {@link MATMUL_MIN_MACS} multiply-adds (one batch, any transposes) run in the kernels' wasm
 * module on several threads in place of tfjs-wasm's single-threaded one (same numbers within
 * float32 rounding: the sums are in another order). Loads the wasm module as
 * `registerFusedAttention` does; calling again does nothing more.
 */
export async function registerTrainingKernels(options: RegisterOptions = {}): Promise<void> {
  const module = await wasmModule(options.threads);
  rowModule = module;
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') == null) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  }
  const current = tf.getKernel('BatchMatMul', 'wasm');
  if (xnnMatMul === null && current) {
    xnnMatMul = current;
    tf.unregisterKernel('BatchMatMul', 'wasm');
    const config: MatMulKernelConfig = { ...current, kernelFunc: batchMatMul(module, current), transposesFree: true };
    tf.registerKernel(config);
  }
}

/** Removes what {@link registerTrainingKernels} registered, and gives tfjs-wasm its own BatchMatMul back (core falls back to its reference paths). */
export function unregisterTrainingKernels(): void {
  for (const [name] of KERNELS) if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
  if (xnnMatMul) {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel(xnnMatMul);
    xnnMatMul = null;
  }
}
