/**
 * The training-step kernels @attnkit/core dispatches to (core's training.ts states their
 * contracts), for tfjs's `wasm` backend: layer norm forward and backward, a dense layer's
 * bias + activation gradient, softmax cross-entropy with label smoothing forward and backward,
 * the gather gradient tfjs-wasm lacks (UnsortedSegmentSum), and one Adam update over every
 * variable (ADAM_KERNEL), and dropout by a hash (DROPOUT_KERNEL). These ops are memory-bound,
 * and tfjs runs each of them as 5–30 kernels of its own. Layer norm, the bias + activation
 * gradient, the cross-entropy, Adam and dropout run in the kernels' wasm module (SIMD,
 * assembly/rows.ts: 4–14× faster than the JavaScript loops they replaced); the gather gradient
 * is one pass over the backend's heap in JavaScript. A dense layer's whole backward (bias +
 * activation gradient and both products, DENSE_GRAD_KERNEL) is one call of the module, so its
 * inputs are copied into the module's memory once; so is a tied output projection's
 * cross-entropy each way (PROJECTED_CROSS_ENTROPY_KERNEL and its gradient), whose [N, V] logits
 * and their gradient never leave the module. The file also puts the module's
 * multi-threaded product in place of tfjs-wasm's BatchMatMul and _FusedMatMul, and row copies
 * and data sharing in place of its GatherV2 and Identity.
 *
 * Every kernel allocates its outputs first and takes views of its inputs after: an allocation
 * may grow the heap, which detaches earlier views.
 */
import {
  ADAM_KERNEL,
  BIAS_ACTIVATION_GRAD_KERNEL,
  DENSE_GRAD_KERNEL,
  DROPOUT_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  LOG_SUM_EXP_KERNEL,
  type MatMulKernelConfig,
  PROJECTED_CROSS_ENTROPY_GRAD_KERNEL,
  PROJECTED_CROSS_ENTROPY_KERNEL,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
} from '@attnkit/core';
import * as tf from '@tensorflow/tfjs-core';
import { type RegisterOptions, wasmModule } from './register.js';
import { EXP_TABLE_BYTES } from './wasm-layout.js';
import type { WasmAttention } from './wasm.js';

interface WasmBackend {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: tf.DataId): void;
  disposeData(dataId: tf.DataId): void;
  dataIdMap?: { get(id: tf.DataId): { shape?: number[] } | undefined };
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

/** A dense layer's whole backward (core's DENSE_GRAD_KERNEL) in one call of the module: x, kernel and dy copied in once. */
function denseBackward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { x, kernel, y, dy } = inputs as Record<string, tf.TensorInfo>;
  const [N, K] = x!.shape as [number, number];
  const U = kernel!.shape[1]!;
  const relu = (attrs as { activation: string }).activation === 'relu';
  const [xv, wv, yv, dyv] = views(wasm, x!, kernel!, y!, dy!);
  return rowModule!.denseBackward({ N, K, U, relu }, xv!, wv!, yv!, dyv!, (dx, dw, db) => outputsFrom(wasm, [[N, K], [K, U], [U]], [dx, dw, db]));
}

/** vexp's constants (assembly/simd.ts EXP_TABLE) as float64 scratch of a row op. */
const EXP_TABLE_F64 = EXP_TABLE_BYTES / 8;

function crossEntropyForward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { logits, labels } = inputs as Record<string, tf.TensorInfo>;
  const [N, V] = logits!.shape as [number, number];
  const eps = (attrs as { labelSmoothing: number }).labelSmoothing;
  const [x] = views(wasm, logits!);
  const ids = wasm.typedArrayFromHeap(labels!) as Int32Array;
  return rowModule!.rows('crossEntropyForward', [x!, ids], [N, N * V], EXP_TABLE_F64, [N, V, eps], (outs) => outputsFrom(wasm, [[N], [N, V]], outs));
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

/** Cross-entropy of the logits hidden·tableᵀ (core's PROJECTED_CROSS_ENTROPY_KERNEL): the product and the cross-entropy in one call of the module. */
function projectedCrossEntropyForward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { hidden, table, labels } = inputs as Record<string, tf.TensorInfo>;
  const [N, d] = hidden!.shape as [number, number];
  const V = table!.shape[0]!;
  const epsilon = (attrs as { labelSmoothing: number }).labelSmoothing;
  const [h, w] = views(wasm, hidden!, table!);
  const ids = wasm.typedArrayFromHeap(labels!) as Int32Array;
  return rowModule!.projectedCrossEntropy({ N, d, V, epsilon }, h!, w!, ids, (loss, probs) => outputsFrom(wasm, [[N], [N, V]], [loss, probs]));
}

/** Its gradient (PROJECTED_CROSS_ENTROPY_GRAD_KERNEL): dlogits and both products in one call, dlogits never leaving the module. */
function projectedCrossEntropyBackward({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const { hidden, table, probs, labels, dy } = inputs as Record<string, tf.TensorInfo>;
  const [N, d] = hidden!.shape as [number, number];
  const V = table!.shape[0]!;
  const epsilon = (attrs as { labelSmoothing: number }).labelSmoothing;
  const [h, w, p, g] = views(wasm, hidden!, table!, probs!, dy!);
  const ids = wasm.typedArrayFromHeap(labels!) as Int32Array;
  return rowModule!.projectedCrossEntropyBackward({ N, d, V, epsilon }, { h: h!, table: w!, probs: p!, labels: ids, dy: g! }, (dh, dtable) =>
    outputsFrom(
      wasm,
      [
        [N, d],
        [V, d],
      ],
      [dh, dtable],
    ),
  );
}

/** Each row's log-sum-exp (core's LOG_SUM_EXP_KERNEL): x [N, V] -> [N], SIMD exponentials in the module. */
function logSumExpKernel({ inputs, backend }: Args): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { x } = inputs as Record<string, tf.TensorInfo>;
  const [N, V] = x!.shape as [number, number];
  return rowModule!.rows('logSumExp', views(wasm, x!), [N], EXP_TABLE_F64, [N, V], (outs) => outputsFrom(wasm, [[N]], outs))[0]!;
}

/** Inverted dropout by a hash of the seed and the flat index (core's DROPOUT_KERNEL), in the module. */
function dropoutKernel({ inputs, backend, attrs }: Args): tf.TensorInfo {
  const wasm = backend as WasmBackend;
  const { x } = inputs as Record<string, tf.TensorInfo>;
  const { rate, seed } = attrs as { rate: number; seed: number };
  const n = tf.util.sizeFromShape(x!.shape);
  const threshold = Math.trunc(Math.fround(rate) * 2 ** 32);
  const scale = Math.fround(1 / Math.fround(1 - Math.fround(rate))); // as the module computes it in float32
  return rowModule!.rows('dropout', views(wasm, x!), [n], 0, [n, threshold, scale, seed | 0], (outs) => outputsFrom(wasm, [x!.shape], outs))[0]!;
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
 * tfjs' Identity (tf.clone, and the engine's copy of every tensor a gradient saves) without the
 * copy tfjs-wasm makes: the output shares the input's data, as Reshape does on wasm and Identity
 * does on cpu. No tfjs-wasm kernel writes into an input, so shared data stays unchanged.
 */
function identity({ inputs, backend }: Args): tf.TensorInfo {
  const { x } = inputs as Record<string, tf.TensorInfo>;
  (backend as WasmBackend).incRef(x!.dataId);
  return { dataId: x!.dataId, shape: x!.shape, dtype: x!.dtype };
}

/**
 * tfjs' GatherV2 for an embedding lookup (axis 0, no batch dims, one row per id) as row copies
 * within the backend's heap: tfjs-wasm's gathers element by element, 5 ms for 1280 rows of 64.
 * Anything else goes to tfjs-wasm's kernel. Out-of-range ids throw as tfjs' do.
 */
function gatherRows(fallback: tf.KernelConfig): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args as Args;
    const { x, indices } = inputs as Record<string, tf.TensorInfo>;
    const { axis, batchDims } = attrs as { axis: number; batchDims: number };
    if ((axis !== 0 && axis !== -x!.shape.length) || batchDims !== 0 || x!.dtype === 'string' || indices!.dtype !== 'int32') {
      return fallback.kernelFunc(args);
    }
    const wasm = backend as WasmBackend;
    const [rows, ...inner] = x!.shape as [number, ...number[]];
    const width = tf.util.sizeFromShape(inner);
    for (const id of wasm.typedArrayFromHeap(indices!) as Int32Array) {
      if (!(id >= 0 && id < rows)) throw new Error(`GatherV2: the index value ${id} is not in [0, ${rows - 1}]`);
    }
    const out = wasm.makeOutput([...indices!.shape, ...inner], x!.dtype);
    const ids = wasm.typedArrayFromHeap(indices!) as Int32Array;
    const src = wasm.typedArrayFromHeap(x!);
    const dst = wasm.typedArrayFromHeap(out);
    for (let i = 0; i < ids.length; i++) dst.set(src.subarray(ids[i]! * width, ids[i]! * width + width), i * width);
    return out;
  };
}

/**
 * One Adam step over `count` variables: inputs value{i}, m{i}, v{i}, grad{i}; attrs lr, beta1,
 * beta2, epsilon and the bias corrections 1 - β1^t, 1 - β2^t -> [value'0, m'0, v'0, value'1, …],
 * the arithmetic of tf.train.adam in float32.
 */
function adam({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const wasm = backend as WasmBackend;
  const a = attrs as { count: number; lr: number; beta1: number; beta2: number; epsilon: number; correction1: number; correction2: number };
  const ins = inputs as Record<string, tf.TensorInfo>;
  const outs: tf.TensorInfo[] = [];
  for (let i = 0; i < a.count; i++) {
    const shape = ins[`value${i}`]!.shape;
    outs.push(wasm.makeOutput(shape, 'float32'), wasm.makeOutput(shape, 'float32'), wasm.makeOutput(shape, 'float32'));
  }
  const variables = Array.from({ length: a.count }, (_, i) => {
    const [value, m, v, grad] = views(wasm, ins[`value${i}`]!, ins[`m${i}`]!, ins[`v${i}`]!, ins[`grad${i}`]!) as Float32Array[];
    return { value: value!, m: m!, v: v!, grad: grad! };
  });
  rowModule!.adam(variables, a, (i, value, m, v) => {
    const [nv, nm, ns] = views(wasm, outs[3 * i]!, outs[3 * i + 1]!, outs[3 * i + 2]!);
    nv!.set(value);
    nm!.set(m);
    ns!.set(v);
  });
  return outs;
}

const KERNELS: Array<[string, (args: Args) => tf.TensorInfo | tf.TensorInfo[]]> = [
  [LAYER_NORM_KERNEL, layerNormForward],
  [LAYER_NORM_GRAD_KERNEL, layerNormBackward],
  [BIAS_ACTIVATION_GRAD_KERNEL, biasActivationBackward],
  [DENSE_GRAD_KERNEL, denseBackward],
  [SOFTMAX_CROSS_ENTROPY_KERNEL, crossEntropyForward],
  [SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, crossEntropyBackward],
  [PROJECTED_CROSS_ENTROPY_KERNEL, projectedCrossEntropyForward],
  [PROJECTED_CROSS_ENTROPY_GRAD_KERNEL, projectedCrossEntropyBackward],
  [LOG_SUM_EXP_KERNEL, logSumExpKernel],
  ['UnsortedSegmentSum', unsortedSegmentSum],
  [ADAM_KERNEL, adam],
  [DROPOUT_KERNEL, dropoutKernel],
];

/** tfjs-wasm's own kernels that ours replace while registered (BatchMatMul, _FusedMatMul, Identity, GatherV2), to give back. */
const replaced = new Map<string, tf.KernelConfig>();

/** Registers `make(tfjs-wasm's kernel)` in place of tfjs-wasm's `kernelName` (once). */
function replace(kernelName: string, make: (current: tf.KernelConfig) => tf.KernelConfig): void {
  const current = tf.getKernel(kernelName, 'wasm');
  if (replaced.has(kernelName) || !current) return;
  replaced.set(kernelName, current);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel(make(current));
}

/** Untransposed products smaller than this many multiply-adds stay on tfjs-wasm's (XNNPACK, one thread): a call to the module costs more than they take. */
export const MATMUL_MIN_MACS = 2 ** 18;

/** Whether the bias's buffer was made as rank 1: tfjs-wasm's _FusedMatMul reads that rank, not the tensor's, and fails on a rank-1 view of a rank-2 weight. */
function madeRank1(wasm: WasmBackend, bias: tf.TensorInfo): boolean {
  const shape = wasm.dataIdMap?.get(bias.dataId)?.shape;
  return shape === undefined || shape.length === 1;
}

/**
 * A small _FusedMatMul whose bias tfjs-wasm's kernel cannot take (madeRank1): tfjs-wasm's
 * product, then act(y + bias) in place on its fresh output (relu or linear), or for another
 * activation tfjs-wasm's fused kernel on a rank-1 copy of the bias. (A fresh bias buffer every
 * call would cost more: XNNPACK caches its operator by the buffers it was made for.)
 */
function smallFused(wasm: WasmBackend, args: Parameters<tf.KernelFunc>[0], fallback: tf.KernelConfig, relu: boolean | null): tf.TensorInfo {
  const { a, b, bias } = args.inputs as Record<string, tf.TensorInfo>;
  const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
  if (relu === null) {
    const flat = wasm.makeOutput([bias!.shape[bias!.shape.length - 1]!], 'float32');
    wasm.typedArrayFromHeap(flat).set(wasm.typedArrayFromHeap(bias!));
    try {
      return fallback.kernelFunc({ ...args, inputs: { ...args.inputs, bias: flat } }) as tf.TensorInfo;
    } finally {
      wasm.disposeData(flat.dataId);
    }
  }
  const out = replaced.get('BatchMatMul')!.kernelFunc({ inputs: { a: a!, b: b! }, backend: args.backend, attrs: { transposeA, transposeB } }) as tf.TensorInfo;
  const y = wasm.typedArrayFromHeap(out) as Float32Array;
  const c = wasm.typedArrayFromHeap(bias!) as Float32Array;
  const N = c.length;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]! + c[i % N]!;
    y[i] = relu && v < 0 ? 0 : v;
  }
  return out;
}

/**
 * BatchMatMul, or with `fused` tfjs' _FusedMatMul (+ bias [N], then relu or linear), in the
 * kernels' module for products of one batch and at least MATMUL_MIN_MACS multiply-adds, or of
 * any size with a transposed operand (tfjs-wasm's transposed path is slow at every size: 2.9 ms
 * against 0.29 ms for a decoding step's h·Eᵀ at batch 32, [32, 64]·[2000, 64]ᵀ), or with an
 * empty inner size (tfjs-wasm leaves that output unwritten); the rest (real batches, empty
 * outputs, small untransposed products, other activations, prelu) go to tfjs-wasm's `fallback`.
 */
function moduleMatMul(module: WasmAttention, fallback: tf.KernelConfig, fused: boolean): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation = 'linear' } = attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
    const [ra, rb] = [a!.shape.length, b!.shape.length];
    const single = (shape: number[]) => shape.slice(0, -2).every((d) => d === 1);
    const M = a!.shape[transposeA ? ra - 1 : ra - 2]!;
    const K = a!.shape[transposeA ? ra - 2 : ra - 1]!;
    const N = b!.shape[transposeB ? rb - 2 : rb - 1]!;
    const rowBias = bias != null && bias.shape[bias.shape.length - 1] === N && tf.util.sizeFromShape(bias.shape) === N;
    const epilogueOk = !fused || (preluActivationWeights == null && (activation === 'linear' || activation === 'relu') && (bias == null || rowBias));
    const wasm = backend as WasmBackend;
    if (
      !epilogueOk ||
      !single(a!.shape) ||
      !single(b!.shape) ||
      a!.dtype !== 'float32' ||
      b!.dtype !== 'float32' ||
      M * N === 0 ||
      (M * N * K < MATMUL_MIN_MACS && K > 0 && !transposeA && !transposeB)
    ) {
      if (!fused || !rowBias || madeRank1(wasm, bias!)) return fallback.kernelFunc(args);
      return smallFused(wasm, args, fallback, epilogueOk ? activation === 'relu' : null);
    }
    const [av, bv] = views(wasm, a!, b!) as [Float32Array, Float32Array];
    const epilogue = { bias: bias ? (wasm.typedArrayFromHeap(bias) as Float32Array) : undefined, relu: activation === 'relu' };
    const shape = [...new Array(Math.max(ra, rb) - 2).fill(1), M, N];
    const take = (c: Float32Array) => {
      const out = wasm.makeOutput(shape, 'float32');
      wasm.typedArrayFromHeap(out).set(c);
      return out;
    };
    return module.matmul({ M, K, N, transposeA, transposeB }, av, bv, take, epilogue);
  };
}

/**
 * Registers the training kernels for tfjs's `wasm` backend. From then on @attnkit/core's
 * `layerNorm`, `dense` (its backward one call: DENSE_GRAD_KERNEL), `softmaxCrossEntropy`,
 * `projectedCrossEntropy` (one call each way), `rowLogSumExp`, `embeddingLookup` and `Adam` take
 * their fused paths on wasm, `tf.gather` has a gradient there (and gathers rows by row copies),
 * `tf.clone` shares its input's data instead of copying it, and matrix products of at least
 * {@link MATMUL_MIN_MACS} multiply-adds or with a transposed operand (one batch; tf.matMul, and
 * tf.fused.matMul with a bias and relu or no activation) run in the kernels' wasm module on
 * several threads in place of tfjs-wasm's single-threaded one (same numbers within float32
 * rounding: the sums are in another order). Loads the wasm module as
 * `registerFusedAttention` does; calling again does nothing more.
 */
export async function registerTrainingKernels(options: RegisterOptions = {}): Promise<void> {
  const module = await wasmModule(options.threads, options.build);
  rowModule = module;
  for (const [kernelName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') == null) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  }
  replace('BatchMatMul', (current): MatMulKernelConfig => ({ ...current, kernelFunc: moduleMatMul(module, current, false), transposesFree: true }));
  replace(
    '_FusedMatMul',
    (current): MatMulKernelConfig => ({ ...current, kernelFunc: moduleMatMul(module, current, true), transposesFree: true, anyBias: true }),
  );
  replace('Identity', (current) => ({ ...current, kernelFunc: identity as tf.KernelFunc }));
  replace('GatherV2', (current) => ({ ...current, kernelFunc: gatherRows(current) }));
}

/** Removes what {@link registerTrainingKernels} registered, and gives tfjs-wasm its own kernels back (core falls back to its reference paths). */
export function unregisterTrainingKernels(): void {
  for (const [name] of KERNELS) if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
  for (const [name, config] of replaced) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel(config);
  }
  replaced.clear();
}
