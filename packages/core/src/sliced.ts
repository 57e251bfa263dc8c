import * as tf from '@tensorflow/tfjs-core';
import { matMul2d } from './matmul.js';
import type { AttentionDims, Products } from './types.js';

/** Multiplies matching slices of a [N, M, K] and b [N, K, P] one rank-2 matMul at a time: [N, M, P]. */
function slicedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] === 1) return tf.expandDims(matMul2d(tf.squeeze(a, [0]), tf.squeeze(b, [0])), 0);
  const as = tf.unstack(a) as tf.Tensor2D[];
  const bs = tf.unstack(b) as tf.Tensor2D[];
  return tf.stack(as.map((x, i) => matMul2d(x, bs[i]!))) as tf.Tensor3D;
}

/**
 * The same products as the reference, as one rank-2 matMul per (batch, key/value head). The
 * `group` query heads that share a key/value head are stacked as rows of one matrix, so
 * GQA/MQA needs no copy of keys or values.
 */
export const slicedProducts: Products = {
  scores(query, key, { B, Hq, Hkv, Tq, Tk, Dk, group }: AttentionDims) {
    const q = tf.reshape(query, [B * Hkv, group * Tq, Dk]); // [B*Hkv, G*Tq, Dk]
    const kT = tf.reshape(tf.transpose(key, [0, 1, 3, 2]), [B * Hkv, Dk, Tk]); // [B*Hkv, Dk, Tk]
    return tf.reshape(slicedMatMul(q as tf.Tensor3D, kT as tf.Tensor3D), [B, Hq, Tq, Tk]); // [B, Hq, Tq, Tk]
  },
  mix(weights, value, { B, Hq, Hkv, Tq, Tk, Dv, group }: AttentionDims) {
    const w = tf.reshape(weights, [B * Hkv, group * Tq, Tk]); // [B*Hkv, G*Tq, Tk]
    const v = tf.reshape(value, [B * Hkv, Tk, Dv]); // [B*Hkv, Tk, Dv]
    return tf.reshape(slicedMatMul(w as tf.Tensor3D, v as tf.Tensor3D), [B, Hq, Tq, Dv]); // [B, Hq, Tq, Dv]
  },
};
