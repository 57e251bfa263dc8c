import { AttentionError, MASK_FILL, causalMask, check, combineMasks, slidingWindowMask } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import { type ChunkSize, chunkedAttention } from './chunked.js';
import { fusedAttention, fusedUnsupported } from './fused.js';
import type { Products } from './products.js';
import { referenceProducts } from './reference.js';
import { slicedProducts } from './sliced.js';
import { type AttentionDims, type Implementation, validate } from './validate.js';

export interface AttentionOptions {
  /**
   * Bool mask, `true` = may attend, broadcastable to [B, Hq, Tq, Tk] (e.g. from
   * @attnkit/masking). Default: none.
   */
  mask?: tf.Tensor | null;
  /** Additive float bias broadcastable to [B, Hq, Tq, Tk] (per head allowed, e.g. ALiBi). Default: none. */
  bias?: tf.Tensor | null;
  /** Causal masking, aligned bottom-right when Tq != Tk; ANDed with `mask`. Default false. */
  causal?: boolean;
  /**
   * Sliding window (local attention): query `i`, aligned at `p = i + Tk - Tq`, sees keys
   * `p - left <= j <= p + right` (`right` defaults to 0); ANDed with `mask` and `causal`.
   * Default: none.
   */
  window?: { left: number; right?: number } | null;
  /** Multiplier of the logits. Default 1/sqrt(Dk). */
  scale?: number;
  /** Dropout rate on the attention weights, applied only when `training`. Default 0. */
  dropout?: number;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Seed of the dropout pattern; the same seed gives the same pattern. Default: random. */
  seed?: number;
  /**
   * Which formulation computes the two matrix products. `'reference'`: batched rank-4
   * matMuls, the readable spec. `'sliced'`: one rank-2 matMul per (batch, kv head), much
   * faster on wasm for long sequences. `'chunked'`: flash-style tiles with an online softmax,
   * O(T) memory forward and backward (README, "Long sequences"); it applies to
   * scaledDotProductAttention, while attentionWeights / attentionWithWeights, which return the
   * full weights, use the `'auto'` products. `'auto'` (default): `'chunked'` when B·Hq·Tq·Tk
   * reaches the backend's {@link AUTO_CHUNKED_MIN_SCORES}; else `'sliced'` on the wasm and cpu
   * backends once a slice holds at least {@link SLICED_MIN_SCORES} scores, `'reference'`
   * otherwise (small slices pay more in per-op overhead than they save; GPU backends batch well).
   * `'fused'`: a fused kernel registered for the active backend (e.g. by @attnkit/kernels'
   * `registerFusedAttention()`); throws when none is registered or the call uses dropout.
   * `'auto'` runs scaledDotProductAttention fused whenever such a kernel is registered and the
   * call has no active dropout, before any of the rules above.
   */
  implementation?: Implementation;
  /**
   * Tile lengths of `'chunked'`: a number for both, or `{ query, key }`. Default
   * `{ query: 512, key: 512 }` (measured; README, "Long sequences").
   */
  chunkSize?: ChunkSize;
}

/**
 * Per backend, the scores-matrix size B·Hq·Tq·Tk from which `implementation: 'auto'` runs
 * scaledDotProductAttention chunked: where chunked became as fast as the default path in
 * measurements on cpu and wasm (README, "Long sequences"). Other backends use `wasm`'s value.
 */
export const AUTO_CHUNKED_MIN_SCORES: Readonly<{ cpu: number; wasm: number }> = { cpu: 2 ** 21, wasm: 2 ** 23 };

/** Whether scaledDotProductAttention runs the chunked path. */
function usesChunked(implementation: Implementation = 'auto', { B, Hq, Tq, Tk }: AttentionDims): boolean {
  if (implementation !== 'auto') return implementation === 'chunked';
  const backend = tf.getBackend();
  return B * Hq * Tq * Tk >= (backend === 'cpu' ? AUTO_CHUNKED_MIN_SCORES.cpu : AUTO_CHUNKED_MIN_SCORES.wasm);
}

/** Whether scaledDotProductAttention runs a registered fused kernel; throws if 'fused' is asked and cannot run. */
function usesFused(op: string, options: AttentionOptions, dims: AttentionDims): boolean {
  const { implementation = 'auto' } = options;
  if (implementation !== 'auto' && implementation !== 'fused') return false;
  const reason = fusedUnsupported(options, dims);
  check(implementation !== 'fused' || reason === null, () => AttentionError.value(op, `implementation 'fused' cannot run: ${reason}`, implementation));
  return reason === null;
}

export interface AttentionResult {
  /** [B, Hq, Tq, Dv] */
  output: tf.Tensor4D;
  /** [B, Hq, Tq, Tk], before dropout; rows sum to 1, or are all 0 where nothing may be attended. */
  weights: tf.Tensor4D;
}

/**
 * Scores per (batch, kv head) slice, G·Tq·Tk, from which 'auto' takes the sliced path on
 * wasm and cpu. Measured (packages/core/README.md): at B=16, H=8, T=16 on wasm the sliced
 * path is 10x slower than the batched one, at T=64 2x slower, at T=256 3x faster.
 */
export const SLICED_MIN_SCORES = 128 * 128;

function products(implementation: Implementation = 'auto', dims: AttentionDims): Products {
  switch (implementation) {
    case 'reference':
      return referenceProducts;
    case 'sliced':
      return slicedProducts;
    case 'auto':
    case 'fused':
    case 'chunked': {
      // weights requests under 'chunked': the weights are [Tq, Tk] anyway, tiling saves nothing
      const cpuLike = ['wasm', 'cpu'].includes(tf.getBackend());
      return cpuLike && dims.group * dims.Tq * dims.Tk >= SLICED_MIN_SCORES ? slicedProducts : referenceProducts;
    }
  }
}

/** Softmax weights [B, Hq, Tq, Tk]; must run inside tf.tidy. */
function weightsOf(query: tf.Tensor, key: tf.Tensor, options: AttentionOptions, dims: AttentionDims): tf.Tensor {
  const { Tq, Tk, Dk } = dims;
  const scale = options.scale ?? 1 / Math.sqrt(Dk);
  // 1) scores: (scale·Q)·Kᵀ, scaling the smaller of the two sides
  let logits = products(options.implementation, dims).scores(tf.mul(query, scale), key, dims); // [B, Hq, Tq, Tk]
  // 2) additive bias
  if (options.bias) logits = tf.add(logits, options.bias);
  // 3) mask with a finite fill, never -Infinity
  const mask = combineMasks(
    options.mask,
    options.causal ? causalMask(Tq, Tk) : null,
    options.window ? slidingWindowMask(Tq, Tk, options.window) : null,
  ); // broadcasts to [B, Hq, Tq, Tk]
  // (added to the logits as (1 - mask)·MASK_FILL at the mask's own shape: tf.where would tile
  // the mask and the fill to the full [B, Hq, Tq, Tk], the slowest kernels of a training step)
  const allowed = mask ? tf.cast(mask, 'float32') : null;
  if (allowed) logits = tf.add(logits, tf.mul(tf.sub(1, allowed), MASK_FILL));
  // 4) softmax; zeroing masked entries makes a row with nothing to attend all zeros
  const weights = tf.softmax(logits);
  return allowed ? tf.mul(weights, allowed) : weights;
}

function attend(dims: AttentionDims, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: AttentionOptions) {
  return (): AttentionResult => {
    const weights = weightsOf(query, key, options, dims);
    const { dropout = 0, training = false, seed } = options;
    const dropped = training && dropout > 0 ? tf.dropout(weights, dropout, undefined, seed) : weights;
    const output = products(options.implementation, dims).mix(dropped, value, dims); // [B, Hq, Tq, Dv]
    return { output: output as tf.Tensor4D, weights: weights as tf.Tensor4D };
  };
}

/**
 * Scaled dot-product attention: softmax(Q·Kᵀ·scale + bias, masked) · V.
 *
 * query [B, Hq, Tq, Dk], key [B, Hkv, Tk, Dk], value [B, Hkv, Tk, Dv] with Hq a multiple of
 * Hkv (GQA/MQA) -> output [B, Hq, Tq, Dv]. A query row with nothing to attend to gives zeros.
 * Throws {@link AttentionError} on bad input, before allocating anything.
 */
export function scaledDotProductAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): tf.Tensor4D {
  const dims = validate('scaledDotProductAttention', query, key, value, options);
  if (usesFused('scaledDotProductAttention', options, dims)) return tf.tidy(() => fusedAttention(query, key, value, options, dims));
  if (usesChunked(options.implementation, dims)) return tf.tidy(() => chunkedAttention(query, key, value, options, dims));
  const run = attend(dims, query, key, value, options);
  return tf.tidy(() => run().output);
}

/** Output and weights of one attention call, computed once; see {@link scaledDotProductAttention}. */
export function attentionWithWeights(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  const run = attend(validate('attentionWithWeights', query, key, value, options), query, key, value, options);
  return tf.tidy(() => run() as unknown as tf.TensorContainer) as unknown as AttentionResult;
}

/**
 * Attention weights [B, Hq, Tq, Tk] = softmax(Q·Kᵀ·scale + bias, masked), without dropout.
 * Rows sum to 1, or are all zero where the mask leaves nothing to attend to.
 */
export function attentionWeights(
  query: tf.Tensor,
  key: tf.Tensor,
  options: Omit<AttentionOptions, 'dropout' | 'training' | 'seed'> = {},
): tf.Tensor4D {
  const dims = validate('attentionWeights', query, key, null, options);
  return tf.tidy(() => weightsOf(query, key, options, dims) as tf.Tensor4D);
}
