/**
 * The reference path: scaled dot-product attention exactly as the formula is written,
 *
 *   weights = softmax(mask(scale·Q·Kᵀ + bias)),   output = dropout(weights) · V,
 *
 * in six numbered steps. This file is the spec: every faster path (sliced.ts, chunked.ts, the
 * fused kernels) equals it within the tolerances its tests state. It imports only the types,
 * and the sliced path only swaps in its own {@link Products}.
 */
import { MASK_FILL, causalMask, combineMasks, slidingWindowMask } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionDims, AttentionOptions, AttentionResult, Products } from './types.js';

/** Repeats each key/value head for the query heads that share it: [B, Hkv, T, D] -> [B, Hq, T, D]. */
function repeatKV(x: tf.Tensor, { B, Hkv, Hq, group }: AttentionDims): tf.Tensor {
  if (group === 1) return x;
  const [, , T, D] = x.shape as number[] as [number, number, number, number];
  // Rank 3, since tfjs has no gradient for broadcasting rank-5 tensors.
  const expanded = tf.reshape(x, [B * Hkv, 1, T * D]); // [B*Hkv, 1, T*D]
  return tf.reshape(tf.broadcastTo(expanded, [B * Hkv, group, T * D]), [B, Hq, T, D]); // [B, Hq, T, D]
}

/**
 * The readable products: batched rank-4 matMuls, S = Q·Kᵀ and O = W·V, with key/value heads
 * repeated for GQA/MQA.
 */
export const referenceProducts: Products = {
  scores: (query, key, dims) => tf.matMul(query, repeatKV(key, dims), false, true), // [B, Hq, Tq, Tk]
  mix: (weights, value, dims) => tf.matMul(weights, repeatKV(value, dims)), // [B, Hq, Tq, Dv]
};

/**
 * Where a bias lets a key be attended: `false` where it is `-Infinity`, `true` elsewhere (NaN
 * included, so that it propagates). A key a bias of `-Infinity` excludes is a masked key, so
 * a row it covers entirely gives zeros, not the NaN of softmax([-inf, ..., -inf]).
 */
export function biasAllows(bias: tf.Tensor): tf.Tensor {
  return tf.notEqual(bias, tf.scalar(Number.NEGATIVE_INFINITY)); // bool, the bias's shape
}

/**
 * The combined bool mask of a call (`true` = may attend): the user's mask AND causal AND
 * window AND {@link biasAllows}, broadcastable to [B, Hq, Tq, Tk]; null when everything may
 * be attended.
 */
function maskOf(options: AttentionOptions, { Tq, Tk }: AttentionDims): tf.Tensor | null {
  // read from the bias's values, the mask carries no gradient (offTape)
  const combine = (bias: tf.Tensor | null) =>
    combineMasks(
      options.mask,
      options.causal ? causalMask(Tq, Tk) : null,
      options.window ? slidingWindowMask(Tq, Tk, options.window) : null,
      bias ? biasAllows(bias) : null,
    );
  return options.bias ? offTape(options.bias, (bias) => combine(bias)!) : combine(null);
}

/**
 * `f(x)` for a bool `f` read from the values of `x` but carrying no gradient: built off the
 * tape, in a customGrad whose gradient is 0 (tfjs has no gradient for bool ops such as
 * logicalAnd, so they must not sit on a path from a differentiated input).
 */
function offTape(x: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor): tf.Tensor {
  return tf.customGrad((input, _save) => ({ value: f(input as tf.Tensor), gradFunc: () => tf.zerosLike(input as tf.Tensor) }))(x);
}

/**
 * Softmax weights [B, Hq, Tq, Tk], before dropout: rows sum to 1, or are all 0 where nothing
 * may be attended. Must run inside tf.tidy.
 */
export function referenceWeights(
  query: tf.Tensor,
  key: tf.Tensor,
  options: AttentionOptions,
  dims: AttentionDims,
  products: Products = referenceProducts,
): tf.Tensor {
  const scale = options.scale ?? 1 / Math.sqrt(dims.Dk);
  // 1) scores: (scale·Q)·Kᵀ; the scale is applied to the query (Tq·Dk values, not Tq·Tk)
  let logits = products.scores(tf.mul(query, scale), key, dims); // [B, Hq, Tq, Tk]
  // 2) additive bias; a -Infinity entry adds 0 here and is masked in step 3
  if (options.bias) {
    const bias = options.bias;
    const finite = tf.where(offTape(bias, biasAllows), bias, tf.zerosLike(bias)); // the bias's shape
    logits = tf.add(logits, finite); // [B, Hq, Tq, Tk]
  }
  // 3) mask with a finite fill, never -Infinity, added to the logits as (1 - mask)·MASK_FILL at
  // the mask's own shape (tf.where would tile the mask and the fill to the full
  // [B, Hq, Tq, Tk], the slowest kernels of a training step)
  const mask = maskOf(options, dims); // broadcasts to [B, Hq, Tq, Tk]
  const allowed = mask ? tf.cast(mask, 'float32') : null;
  if (allowed) logits = tf.add(logits, tf.mul(tf.sub(1, allowed), MASK_FILL));
  // 4) softmax; zeroing masked entries makes a row with nothing to attend all zeros
  const weights = tf.softmax(logits); // [B, Hq, Tq, Tk]
  return allowed ? tf.mul(weights, allowed) : weights;
}

/**
 * Output [B, Hq, Tq, Dv] and weights [B, Hq, Tq, Tk] (before dropout) of one call, on the
 * reference products or another formulation of them (sliced.ts). Must run inside tf.tidy.
 */
export function referenceAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions,
  dims: AttentionDims,
  products: Products = referenceProducts,
): AttentionResult {
  // 1)-4) weights
  const weights = referenceWeights(query, key, options, dims, products); // [B, Hq, Tq, Tk]
  // 5) dropout on the weights, only when training
  const { dropout = 0, training = false, seed } = options;
  const dropped = training && dropout > 0 ? tf.dropout(weights, dropout, undefined, seed) : weights;
  // 6) mix the values
  const output = products.mix(dropped, value, dims); // [B, Hq, Tq, Dv]
  return { output: output as tf.Tensor4D, weights: weights as tf.Tensor4D };
}
