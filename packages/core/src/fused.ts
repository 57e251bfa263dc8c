/**
 * Dispatch to a fused attention kernel registered with tfjs (for example by @attnkit/kernels).
 * Core does not import any kernel: it looks the kernels up by name for the active backend.
 *
 * Contract of the two kernels (inputs are float32 unless said otherwise):
 * - `FUSED_ATTENTION_KERNEL`: inputs `query` [B, Hq, Tq, Dk], `key` [B, Hkv, Tk, Dk], `value`
 *   [B, Hkv, Tk, Dv], optional `mask` (bool) and `bias`, each broadcastable to [B, Hq, Tq, Tk]
 *   at rank <= 4; attrs {@link FusedAttentionAttrs}. Outputs `[output [B, Hq, Tq, Dv],
 *   lse [B, Hq, Tq]]`, lse being the row logsumexp of the masked logits (masked entries
 *   filled with MASK_FILL and counted, exactly as the reference softmax does).
 * - `FUSED_ATTENTION_GRAD_KERNEL`: the same inputs plus `output`, `lse` and `dy` [B, Hq, Tq,
 *   Dv]; outputs `[dQuery, dKey, dValue]`, plus `dBias` in the bias's own shape when a bias
 *   is given.
 * - A kernel that takes only some calls registers the forward as a {@link FusedKernelConfig}
 *   with `supports`: core asks it before dispatching, and `'auto'` takes another path where
 *   it declines.
 */
import * as tf from '@tensorflow/tfjs-core';
import { bandOf } from './band.js';
import { recordingGradients, saveViews } from './save.js';
import type { AttentionDims, AttentionOptions } from './types.js';

export const FUSED_ATTENTION_KERNEL = 'AttnkitFusedAttention';
export const FUSED_ATTENTION_GRAD_KERNEL = 'AttnkitFusedAttentionGrad';

/**
 * Query `i`, aligned at `p = i + offset`, may attend keys `p - left <= j <= p + right` (ANDed
 * with the mask): the band of band.ts, whose unbounded sides are Tq + Tk (covers every key).
 */
export interface FusedAttentionAttrs {
  scale: number;
  left: number;
  right: number;
  offset: number;
  /**
   * Dropout rate on the weights, 0 when not training; given only to a kernel registered with
   * `dropout: true`. With dropout the kernel keeps weight (b, h, i, j), scaled by
   * 1/(1 - rate), by a function of `seed` and the weight's flat index only (the same in the
   * backward pass); the pattern is the kernel's own (@attnkit/kernels documents it).
   */
  dropout: number;
  /** Seed of the dropout pattern: the call's `seed`, or drawn at random per call. */
  seed: number;
  [name: string]: number;
}

/**
 * The forward kernel's registration (`tf.registerKernel`), with an optional `supports`: why
 * the kernel cannot run a call of these sizes (for example head dims above its limit), or
 * null when it can.
 */
export interface FusedKernelConfig extends tf.KernelConfig {
  supports?: (dims: AttentionDims) => string | null;
  /** Whether the kernels apply dropout on the weights (attrs `dropout`, `seed`). Default false. */
  dropout?: boolean;
}

/** The options the fused path reads; their meaning is in AttentionOptions. */
export type FusedOptions = Pick<AttentionOptions, 'mask' | 'bias' | 'causal' | 'window' | 'scale' | 'dropout' | 'training' | 'seed'>;

/** Whether both fused kernels are registered for `backend` (default: the active backend). */
export function fusedAvailable(backend: string = tf.getBackend()): boolean {
  return tf.getKernel(FUSED_ATTENTION_KERNEL, backend) != null && tf.getKernel(FUSED_ATTENTION_GRAD_KERNEL, backend) != null;
}

/**
 * Why the fused path cannot run this call, or null when it can. Dropout (when training) is
 * not fused, nor a call the kernel's `supports` declines: such calls take the other paths.
 */
export function fusedUnsupported(options: Pick<FusedOptions, 'dropout' | 'training'>, dims: AttentionDims, backend: string = tf.getBackend()): string | null {
  if (!fusedAvailable(backend)) return `no ${FUSED_ATTENTION_KERNEL} kernel registered for backend '${backend}'`;
  const kernel = tf.getKernel(FUSED_ATTENTION_KERNEL, backend) as FusedKernelConfig;
  if (options.training && (options.dropout ?? 0) > 0 && !kernel.dropout) return `dropout is not fused by backend '${backend}'`;
  return kernel.supports?.(dims) ?? null;
}

function attrsOf(options: FusedOptions, dims: AttentionDims): FusedAttentionAttrs {
  return {
    scale: options.scale ?? 1 / Math.sqrt(dims.Dk),
    ...bandOf(options, dims),
    dropout: options.training ? (options.dropout ?? 0) : 0,
    seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
  };
}

/**
 * Attention output [B, Hq, Tq, Dv] from the registered fused kernels; the caller has
 * validated the inputs and checked {@link fusedUnsupported}. Differentiable with respect to
 * query, key, value and bias (tf.customGrad over the fused backward kernel).
 */
export function fusedAttention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: FusedOptions, dims: AttentionDims): tf.Tensor4D {
  const attrs = attrsOf(options, dims);
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  const engine = tf.engine();
  if (!recordingGradients()) {
    const inputs: tf.NamedTensorMap = { query, key, value };
    if (mask) inputs.mask = mask;
    if (bias) inputs.bias = bias;
    const [output, lse] = engine.runKernel(FUSED_ATTENTION_KERNEL, inputs, attrs) as tf.Tensor[];
    lse!.dispose();
    return output as tf.Tensor4D;
  }
  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [q, k, v, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    // A handle of its own on the mask: the saved tensors are disposed after the backward pass.
    const m = mask ? tf.reshape(mask, mask.shape) : null;
    const inputs: tf.NamedTensorMap = { query: q, key: k, value: v };
    if (m) inputs.mask = m;
    if (b) inputs.bias = b;
    const [output, lse] = engine.runKernel(FUSED_ATTENTION_KERNEL, inputs, attrs) as tf.Tensor[];
    saveViews(save, [q, k, v, output!, lse!, ...(b ? [b] : []), ...(m ? [m] : [])]);
    return {
      value: output as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, sl, ...rest] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]];
        const back: tf.NamedTensorMap = { query: sq, key: sk, value: sv, output: so, lse: sl, dy };
        if (b) back.bias = rest.shift()!;
        if (mask) back.mask = rest.shift()!;
        return engine.runKernel(FUSED_ATTENTION_GRAD_KERNEL, back, attrs) as tf.Tensor[];
      },
    };
  });
  return attend(query, key, value, ...(bias ? [bias] : [])) as tf.Tensor4D;
}
