/**
 * The other ops of a transformer training step, beside attention: layer norm, a dense
 * layer's bias and activation, embedding lookup, and softmax cross-entropy with label
 * smoothing. Each has a readable reference path written with tfjs ops (the spec) and a fused
 * path that runs one registered kernel forward and one backward, looked up by name for the
 * active backend exactly as the fused attention kernel is (@attnkit/kernels'
 * `registerTrainingKernels()` registers them for wasm). The fused path equals the reference
 * within float32 rounding, forward and gradients (tested in @attnkit/kernels).
 *
 * Kernel contracts (float32 unless said otherwise; N rows of width d or V):
 * - `LAYER_NORM_KERNEL`: x [..., d] (N rows of d), gamma [d], beta [d]; attrs { epsilon } ->
 *   [y (x's shape), mean [N], rstd [N]] with rstd = 1/sqrt(var + epsilon), var the biased variance.
 * - `LAYER_NORM_GRAD_KERNEL`: x, gamma, mean, rstd, dy (x's shape) -> [dx, dgamma [d], dbeta [d]].
 * - `BIAS_ACTIVATION_GRAD_KERNEL`: y [N, u] (the activation's output), dy [N, u]; attrs
 *   { activation } -> [dz [N, u] (gradient before the activation), dbias [u]]; relu and linear.
 * - `DENSE_GRAD_KERNEL` (optional: without it a dense layer's backward is the bias + activation
 *   kernel and two products): x [N, k], kernel [k, u], y [N, u], dy [N, u]; attrs { activation }
 *   -> [dx [N, k], dkernel [k, u], dbias [u]], the whole backward of y = act(x·kernel + bias) in
 *   one call (a backend whose kernels keep their own memory copies x, kernel and dy in once).
 * - `SOFTMAX_CROSS_ENTROPY_KERNEL`: logits [N, V], labels [N] int32; attrs { labelSmoothing } ->
 *   [loss [N], probs [N, V]]: probs = softmax(logits) (kept for the backward pass) and loss =
 *   -Σ_j t_j log probs_j with t = (1 - ε)·onehot(label) + ε/V (a label outside [0, V) has an
 *   all-zero one-hot, as tf.oneHot).
 * - `PROJECTED_CROSS_ENTROPY_KERNEL` (optional, with its gradient: without them
 *   `projectedCrossEntropy` is a product and the softmax cross-entropy kernels): hidden [N, d],
 *   table [V, d], labels [N] int32; attrs { labelSmoothing } -> [loss [N], probs [N, V]], the
 *   cross-entropy of the logits hidden·tableᵀ as SOFTMAX_CROSS_ENTROPY_KERNEL computes it.
 * - `PROJECTED_CROSS_ENTROPY_GRAD_KERNEL`: hidden, table, probs, labels, dy [N]; attrs
 *   { labelSmoothing } -> [dhidden [N, d], dtable [V, d]]: dlogits as the softmax cross-entropy
 *   gradient computes it, then dlogits·table and dlogitsᵀ·hidden (a backend whose kernels keep
 *   their own memory never hands the [N, V] logits or their gradient back).
 * - `LOG_SUM_EXP_KERNEL` (optional): x [N, V] -> [N], log Σ_j e^(x_j) of each row (forward only).
 * - `SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL`: probs, labels, dloss [N]; attrs { labelSmoothing } ->
 *   [dlogits [N, V]] = (probs - t)·dloss.
 * - `UnsortedSegmentSum` (tfjs' own name, which tfjs-wasm lacks): the gradient of tf.gather,
 *   so an embedding lookup trains as a gather on wasm.
 * - `DROPOUT_KERNEL`: x (float32, any shape); attrs { rate, seed } -> [y] = x·1/(1 - rate) where
 *   dropHash(seed, i) >= trunc(fround(rate)·2^32) for flat index i, else 0 (the hash of the
 *   fused attention kernel's dropout, @attnkit/kernels' src/dropout.ts). Its gradient is the
 *   same kernel on dy with the same attrs.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs-core';
import { type MatMulKernelConfig, matMul2d, matMulT } from './matmul.js';
import { recordingGradients, reshapeView, saveViews } from './save.js';

export const LAYER_NORM_KERNEL = 'AttnkitLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'AttnkitLayerNormGrad';
export const BIAS_ACTIVATION_GRAD_KERNEL = 'AttnkitBiasActivationGrad';
export const DENSE_GRAD_KERNEL = 'AttnkitDenseGrad';
export const SOFTMAX_CROSS_ENTROPY_KERNEL = 'AttnkitSoftmaxCrossEntropy';
export const SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL = 'AttnkitSoftmaxCrossEntropyGrad';
export const PROJECTED_CROSS_ENTROPY_KERNEL = 'AttnkitProjectedCrossEntropy';
export const PROJECTED_CROSS_ENTROPY_GRAD_KERNEL = 'AttnkitProjectedCrossEntropyGrad';
export const DROPOUT_KERNEL = 'AttnkitDropout';
export const LOG_SUM_EXP_KERNEL = 'AttnkitLogSumExp';

/** `'auto'` (default): fused when its kernels are registered for the active backend; `'reference'`: tfjs ops; `'fused'`: the kernels or an error. */
export type OpImplementation = 'auto' | 'reference' | 'fused';

function registered(...names: string[]): boolean {
  const backend = tf.getBackend();
  return names.every((n) => tf.getKernel(n, backend) != null);
}

function fusedWanted(op: string, implementation: OpImplementation, ...kernels: string[]): boolean {
  if (implementation === 'reference') return false;
  const ok = registered(...kernels);
  check(implementation !== 'fused' || ok, () =>
    AttentionError.value(op, `implementation 'fused' cannot run: no ${kernels[0]} kernel registered for backend '${tf.getBackend()}'`, implementation),
  );
  return ok;
}

// --- layer norm ----------------------------------------------------------------------------

export interface LayerNormOptions {
  /** Added to the variance. Default 1e-5. */
  epsilon?: number;
  implementation?: OpImplementation;
}

/**
 * Layer normalization over the last axis: (x - mean) / sqrt(var + ε) · gamma + beta, var the
 * biased variance. x [..., d], gamma and beta [d].
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, options: LayerNormOptions = {}): tf.Tensor {
  const { epsilon = 1e-5, implementation = 'auto' } = options;
  const d = x.shape[x.rank - 1]!;
  check(gamma.rank === 1 && beta.rank === 1 && gamma.shape[0] === d && beta.shape[0] === d, () =>
    AttentionError.shapes('layerNorm', `gamma and beta must be [${d}], the last axis of x`, { x: x.shape, gamma: gamma.shape, beta: beta.shape }),
  );
  if (!fusedWanted('layerNorm', implementation, LAYER_NORM_KERNEL, LAYER_NORM_GRAD_KERNEL)) return referenceLayerNorm(x, gamma, beta, epsilon);
  return fusedLayerNorm(x, gamma, beta, epsilon);
}

function referenceLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true); // [..., 1]
    const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(normed, gamma), beta);
  });
}

function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  const engine = tf.engine();
  const attrs = { epsilon };
  if (!recordingGradients()) {
    const [y, mean, rstd] = engine.runKernel(LAYER_NORM_KERNEL, { x, gamma, beta }, attrs) as tf.Tensor[];
    tf.dispose([mean!, rstd!]);
    return y!;
  }
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, g, b, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const [y, mean, rstd] = engine.runKernel(LAYER_NORM_KERNEL, { x: xs, gamma: g, beta: b }, attrs) as tf.Tensor[];
    saveViews(save, [xs, g, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return engine.runKernel(LAYER_NORM_GRAD_KERNEL, { x: sx, gamma: sg, mean: sm, rstd: sr, dy }, attrs) as tf.Tensor[];
      },
    };
  });
  return f(x, gamma, beta);
}

// --- dense: x·W + b, then an activation ---------------------------------------------------

/** Activations of {@link dense}. `gelu` is the exact erf form; `gelu_tanh` its tanh approximation. */
export const ACTIVATIONS = ['linear', 'relu', 'gelu', 'gelu_tanh', 'swish', 'tanh'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

/** `x` through an activation (the reference definitions). */
export function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  return tf.tidy(() => {
    switch (activation) {
      case 'linear':
        return x;
      case 'relu':
        return tf.relu(x);
      case 'gelu':
        // 0.5·x·(1 + erf(x/√2)), as PyTorch's and Keras's default
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
      case 'gelu_tanh':
        // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as BERT and GPT-2
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));
      case 'swish':
        return tf.mul(x, tf.sigmoid(x));
      case 'tanh':
        return tf.tanh(x);
    }
  });
}

export interface DenseOptions {
  activation?: Activation;
  implementation?: OpImplementation;
}

/**
 * act(x·W + b) for x [N, in], W [in, units], b [units] (or null). The fused path (relu and
 * linear) runs the product, bias and activation as one tf.fused.matMul and, backward, the
 * activation's and bias's gradients as one kernel before the two products; other activations
 * take the reference path.
 */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D | null, options: DenseOptions = {}): tf.Tensor2D {
  const { activation = 'linear', implementation = 'auto' } = options;
  check(x.rank === 2 && kernel.rank === 2 && x.shape[1] === kernel.shape[0] && (bias === null || (bias.rank === 1 && bias.shape[0] === kernel.shape[1])), () =>
    AttentionError.shapes('dense', 'x [N, in], kernel [in, units] and bias [units] must agree', { x: x.shape, kernel: kernel.shape, bias: bias?.shape ?? [] }),
  );
  const fusable = bias !== null && (activation === 'relu' || activation === 'linear');
  if (!fusable || !fusedWanted('dense', implementation, BIAS_ACTIVATION_GRAD_KERNEL)) {
    return tf.tidy(() => {
      const y = matMul2d(x, kernel); // [N, units]
      return activate(bias ? tf.add(y, bias) : y, activation) as tf.Tensor2D;
    });
  }
  return fusedDense(x, kernel, bias, activation as FusableActivation);
}

/**
 * Whether tfjs-wasm's _FusedMatMul takes this bias: it checks the rank of the bias's buffer as
 * first created, so a reshaped view of a rank-2 weight ([heads, size] -> [heads·size]) fails.
 */
function fusableBias(bias: tf.Tensor): boolean {
  if ((tf.getKernel('_FusedMatMul', tf.getBackend()) as MatMulKernelConfig | undefined)?.anyBias) return true;
  const storage = (tf.backend() as unknown as { dataIdMap?: { get(id: object): { shape?: number[] } | undefined } }).dataIdMap;
  const shape = storage?.get(bias.dataId)?.shape;
  return shape === undefined || shape.length === 1;
}

/** The activations tf.fused.matMul and BIAS_ACTIVATION_GRAD_KERNEL take. */
type FusableActivation = Extract<Activation, 'relu' | 'linear'>;

/**
 * act(a·w + b) as the backend's one _FusedMatMul kernel. tf.fused.matMul itself splits into a
 * product, an add and the activation while a gradient is recorded (for any activation but
 * linear); inside fusedDense's custom gradient the kernel's own gradient is never needed.
 */
function fusedProduct(a: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, activation: FusableActivation): tf.Tensor2D {
  const [N, k] = a.shape;
  const units = w.shape[1];
  const inputs = { a: reshapeView(a, [1, N, k]), b: reshapeView(w, [1, k, units]), bias: b };
  const y = tf.engine().runKernel('_FusedMatMul', inputs, { transposeA: false, transposeB: false, activation, leakyreluAlpha: 0.2 }) as tf.Tensor;
  const out = reshapeView(y, [N, units]) as tf.Tensor2D;
  tf.dispose([inputs.a, inputs.b, y]);
  return out;
}

function fusedDense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D, activation: FusableActivation): tf.Tensor2D {
  const engine = tf.engine();
  if (!recordingGradients() && fusableBias(bias)) return fusedProduct(x, kernel, bias, activation);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a, w, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    const y = fusableBias(b) ? fusedProduct(a, w, b, activation) : (activate(tf.add(tf.matMul(a, w), b), activation) as tf.Tensor2D); // [N, units]
    saveViews(save, [a, w, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sw, sy] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        if (registered(DENSE_GRAD_KERNEL)) return engine.runKernel(DENSE_GRAD_KERNEL, { x: sa, kernel: sw, y: sy, dy }, { activation }) as tf.Tensor[];
        const [dz, db] = engine.runKernel(BIAS_ACTIVATION_GRAD_KERNEL, { y: sy, dy }, { activation }) as [tf.Tensor2D, tf.Tensor1D];
        return [matMulT(dz, sw, false, true), matMulT(sa, dz, true, false), db];
      },
    };
  });
  return f(x, kernel, bias) as tf.Tensor2D;
}

// --- dropout ---------------------------------------------------------------------------------

export interface DropoutOptions {
  /** Seed of the pattern. Default: drawn at random per call. */
  seed?: number;
  implementation?: OpImplementation;
}

/**
 * Inverted dropout: each entry of `x` zeroed with probability `rate`, the rest scaled by
 * 1/(1 - rate). The reference path is `tf.dropout`; the fused path (DROPOUT_KERNEL) draws no
 * random tensor: an entry's fate is a hash of the seed and its flat index, so the backward pass
 * applies the same kernel to dy and saves nothing. The two paths drop different entries for
 * the same seed (each is its own random pattern).
 */
export function dropout(x: tf.Tensor, rate: number, options: DropoutOptions = {}): tf.Tensor {
  const { implementation = 'auto' } = options;
  check(rate >= 0 && rate < 1, () => AttentionError.value('dropout', 'rate must be in [0, 1)', rate));
  check(x.dtype === 'float32', () => AttentionError.value('dropout', `x must be float32, got ${x.dtype}`, x.dtype));
  if (rate === 0) return tf.clone(x);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  if (!fusedWanted('dropout', implementation, DROPOUT_KERNEL)) return tf.dropout(x, rate, undefined, seed);
  const engine = tf.engine();
  const attrs = { rate, seed };
  const run = (t: tf.Tensor) => engine.runKernel(DROPOUT_KERNEL, { x: t }, attrs) as tf.Tensor;
  if (!recordingGradients()) return run(x);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({ value: run(args[0] as tf.Tensor), gradFunc: (dy: tf.Tensor) => [run(dy)] }));
  return f(x);
}

// --- embedding lookup ------------------------------------------------------------------------

/**
 * Rows of `table` [V, d] at `ids` (int32, any shape) -> [...ids.shape, d], differentiable
 * with respect to the table. A gather where the backend has the gather's gradient
 * (UnsortedSegmentSum: cpu, webgl, webgpu, and wasm once @attnkit/kernels registers it); else
 * oneHot(ids)·table, the same numbers at V times the work.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor, options: { implementation?: OpImplementation } = {}): tf.Tensor {
  const { implementation = 'auto' } = options;
  check(table.rank === 2 && ids.dtype === 'int32', () =>
    AttentionError.shapes('embeddingLookup', 'table must be [V, d] and ids int32', { table: table.shape, ids: ids.shape }),
  );
  const [V, d] = table.shape;
  return tf.tidy(() => {
    const flat = reshapeView(ids, [ids.size]) as tf.Tensor1D; // [N]
    const rows =
      implementation !== 'reference' && registered('GatherV2', 'UnsortedSegmentSum')
        ? tf.gather(table, flat)
        : matMul2d(tf.cast(tf.oneHot(flat, V), 'float32') as tf.Tensor2D, table); // [N, d]
    return reshapeView(rows, [...ids.shape, d]);
  });
}

// --- softmax cross-entropy ---------------------------------------------------------------------

export interface CrossEntropyOptions {
  /** ε: the target is (1 - ε)·onehot + ε/V. Default 0. */
  labelSmoothing?: number;
  implementation?: OpImplementation;
}

/**
 * Per-position cross-entropy of softmax(logits) [..., V] against integer `labels` [...] with
 * label smoothing: -Σ_j t_j·log softmax(logits)_j, t = (1 - ε)·onehot(label) + ε/V. Returns [...].
 * The fused path computes the softmax in its kernel, keeps the probabilities for the backward pass
 * (dlogits = (probs - t)·dloss) and never materialises log-probabilities or the one-hot target.
 */
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, options: CrossEntropyOptions = {}): tf.Tensor {
  const { labelSmoothing = 0, implementation = 'auto' } = options;
  const V = logits.shape[logits.rank - 1]!;
  check(labels.dtype === 'int32' && labels.shape.join() === logits.shape.slice(0, -1).join(), () =>
    AttentionError.shapes('softmaxCrossEntropy', 'labels must be int32 with the shape of logits less its last axis', {
      logits: logits.shape,
      labels: labels.shape,
    }),
  );
  check(labelSmoothing >= 0 && labelSmoothing < 1, () => AttentionError.value('softmaxCrossEntropy', 'labelSmoothing must be in [0, 1)', labelSmoothing));
  if (!fusedWanted('softmaxCrossEntropy', implementation, SOFTMAX_CROSS_ENTROPY_KERNEL, SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL)) {
    return tf.tidy(() => {
      const logp = tf.logSoftmax(logits); // [..., V]
      const onehot = tf.cast(tf.oneHot(tf.cast(labels, 'int32'), V), 'float32'); // [..., V]
      const target = tf.add(tf.mul(onehot, 1 - labelSmoothing), labelSmoothing / V);
      return tf.neg(tf.sum(tf.mul(target, logp), -1)); // [...]
    });
  }
  return tf.tidy(() => {
    const N = labels.size;
    const loss = fusedCrossEntropy(reshapeView(logits, [N, V]), reshapeView(labels, [N]), labelSmoothing);
    return reshapeView(loss, labels.shape);
  });
}

/**
 * `softmaxCrossEntropy(hidden·tableᵀ, labels)` for hidden [..., d], table [V, d] and labels
 * [...]: the loss of a tied output projection (the logits' table is the embedding table), [...].
 * The fused path (PROJECTED_CROSS_ENTROPY_KERNEL and its gradient) runs the product and the
 * cross-entropy as one kernel each way, so a backend with kernel memory of its own never hands
 * the [N, V] logits or their gradient back; without those kernels it is the product and
 * {@link softmaxCrossEntropy} (fused or not, as `implementation` says).
 */
export function projectedCrossEntropy(hidden: tf.Tensor, table: tf.Tensor2D, labels: tf.Tensor, options: CrossEntropyOptions = {}): tf.Tensor {
  const { labelSmoothing = 0, implementation = 'auto' } = options;
  const d = hidden.shape[hidden.rank - 1]!;
  check(table.rank === 2 && table.shape[1] === d && hidden.rank >= 2, () =>
    AttentionError.shapes('projectedCrossEntropy', 'hidden [..., d] and table [V, d] must share d', { hidden: hidden.shape, table: table.shape }),
  );
  check(labels.dtype === 'int32' && labels.shape.join() === hidden.shape.slice(0, -1).join(), () =>
    AttentionError.shapes('projectedCrossEntropy', 'labels must be int32 with the shape of hidden less its last axis', {
      hidden: hidden.shape,
      labels: labels.shape,
    }),
  );
  check(labelSmoothing >= 0 && labelSmoothing < 1, () => AttentionError.value('projectedCrossEntropy', 'labelSmoothing must be in [0, 1)', labelSmoothing));
  const N = labels.size;
  if (!fusedWanted('projectedCrossEntropy', implementation, PROJECTED_CROSS_ENTROPY_KERNEL, PROJECTED_CROSS_ENTROPY_GRAD_KERNEL)) {
    return tf.tidy(() => {
      const logits = matMulT(reshapeView(hidden, [N, d]), table, false, true); // [N, V]
      const loss = softmaxCrossEntropy(logits, reshapeView(labels, [N]), { labelSmoothing, implementation }); // [N]
      return reshapeView(loss, labels.shape);
    });
  }
  return tf.tidy(() => {
    const engine = tf.engine();
    const attrs = { labelSmoothing };
    const ids = reshapeView(labels, [N]);
    // labels are saved, not inputs (as in fusedCrossEntropy)
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [h, w, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const [loss, probs] = engine.runKernel(PROJECTED_CROSS_ENTROPY_KERNEL, { hidden: h, table: w, labels: ids }, attrs) as [tf.Tensor, tf.Tensor]; // [N], [N, V]
      saveViews(save, [h, w, probs, ids]);
      return {
        value: loss,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sh, sw, sp, sl] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          return engine.runKernel(PROJECTED_CROSS_ENTROPY_GRAD_KERNEL, { hidden: sh, table: sw, probs: sp, labels: sl, dy }, attrs) as tf.Tensor[];
        },
      };
    });
    return reshapeView(f(reshapeView(hidden, [N, d]), table), labels.shape);
  });
}

/**
 * log Σ e^x over the last axis of x [..., V] -> [...]: the normaliser of a log-softmax, so that
 * `x - rowLogSumExp(x)` are log-probabilities (decoding reads a step's logits and this, not the
 * [..., V] log-probabilities). Outside a gradient the fused path is one LOG_SUM_EXP_KERNEL call;
 * under one, and without the kernel, `tf.logSumExp(x, -1)`.
 */
export function rowLogSumExp(x: tf.Tensor, options: { implementation?: OpImplementation } = {}): tf.Tensor {
  const { implementation = 'auto' } = options;
  check(x.rank >= 1 && x.size > 0 && x.dtype === 'float32', () =>
    AttentionError.shapes('rowLogSumExp', 'x must be a non-empty float32 tensor [..., V]', { x: x.shape }),
  );
  if (recordingGradients() || !fusedWanted('rowLogSumExp', implementation, LOG_SUM_EXP_KERNEL)) return tf.logSumExp(x, -1);
  const V = x.shape[x.rank - 1]!;
  return tf.tidy(() => {
    const lse = tf.engine().runKernel(LOG_SUM_EXP_KERNEL, { x: reshapeView(x, [x.size / V, V]) }, {}) as tf.Tensor; // [N]
    return reshapeView(lse, x.shape.slice(0, -1));
  });
}

function fusedCrossEntropy(logits: tf.Tensor, labels: tf.Tensor, labelSmoothing: number): tf.Tensor {
  const engine = tf.engine();
  const attrs = { labelSmoothing };
  // labels are saved, not inputs: an integer input of a custom gradient would need a gradient
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const [loss, probs] = engine.runKernel(SOFTMAX_CROSS_ENTROPY_KERNEL, { logits: x, labels }, attrs) as [tf.Tensor, tf.Tensor]; // [N], [N, V]
    saveViews(save, [probs, labels]);
    return {
      value: loss,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [probsSaved, labelsSaved] = saved as [tf.Tensor, tf.Tensor];
        return [engine.runKernel(SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL, { probs: probsSaved, labels: labelsSaved, dy }, attrs) as tf.Tensor];
      },
    };
  });
  return f(logits);
}
