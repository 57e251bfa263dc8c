import * as tf from '@tensorflow/tfjs-core';
import type { Products } from './products.js';
import type { AttentionDims } from './validate.js';

/** Repeats each key/value head for the query heads that share it: [B, Hkv, T, D] -> [B, Hq, T, D]. */
function repeatKV(x: tf.Tensor, { B, Hkv, Hq, group }: AttentionDims): tf.Tensor {
  if (group === 1) return x;
  const [, , T, D] = x.shape as number[] as [number, number, number, number];
  // Rank 3, since tfjs has no gradient for broadcasting rank-5 tensors.
  const expanded = tf.reshape(x, [B * Hkv, 1, T * D]); // [B*Hkv, 1, T*D]
  return tf.reshape(tf.broadcastTo(expanded, [B * Hkv, group, T * D]), [B, Hq, T, D]); // [B, Hq, T, D]
}

/**
 * The readable spec: batched rank-4 matMuls, exactly as the math is written,
 * S = Q·Kᵀ and O = W·V, with key/value heads repeated for GQA/MQA.
 */
export const referenceProducts: Products = {
  scores: (query, key, dims) => tf.matMul(query, repeatKV(key, dims), false, true), // [B, Hq, Tq, Tk]
  mix: (weights, value, dims) => tf.matMul(weights, repeatKV(value, dims)), // [B, Hq, Tq, Dv]
};
