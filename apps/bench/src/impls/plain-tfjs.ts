/**
 * Plain tfjs, as a user writes attention today: softmax(matMul(q, k, false, true) * scale)·v,
 * with a -1e9 fill for masks and key/value heads repeated for GQA.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BenchImplementation } from '../registry.js';
import { type AttendOptions, tfjsAttentionSession } from './tfjs-session.js';

/** Causal (bottom-right aligned) and window mask [Tq, Tk], true = attend; null when neither is set. */
function plainMask(Tq: number, Tk: number, { causal, window }: AttendOptions): tf.Tensor | null {
  if (!causal && window === null) return null;
  const pos = tf.reshape(tf.add(tf.range(0, Tq, 1, 'int32'), Tk - Tq), [Tq, 1]); // [Tq, 1]
  const keys = tf.reshape(tf.range(0, Tk, 1, 'int32'), [1, Tk]); // [1, Tk]
  let mask = causal ? tf.lessEqual(keys, pos) : tf.ones([Tq, Tk], 'bool'); // [Tq, Tk]
  if (window !== null) mask = tf.logicalAnd(mask, tf.greaterEqual(keys, tf.sub(pos, window)));
  return mask;
}

export function plainAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options: AttendOptions): tf.Tensor {
  const [B, H, Tq, d] = q.shape;
  const [, Hkv, Tk] = k.shape;
  if (Hkv !== H) {
    // GQA: repeat each kv head H/Hkv times, as a user would.
    const repeat = (x: tf.Tensor4D) => tf.reshape(tf.tile(tf.expandDims(x, 2), [1, 1, H / Hkv, 1, 1]), [B, H, Tk, x.shape[3]]); // [B, H, Tk, d]
    k = repeat(k) as tf.Tensor4D;
    v = repeat(v) as tf.Tensor4D;
  }
  let scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(d)); // [B, H, Tq, Tk]
  const mask = plainMask(Tq, Tk, options);
  if (mask) scores = tf.where(mask, scores, tf.scalar(-1e9));
  return tf.matMul(tf.softmax(scores), v); // [B, H, Tq, d]
}

export const plainTfjs: BenchImplementation = {
  name: 'plain-tfjs',
  description: 'plain tfjs as written today: softmax(matMul(q, k, false, true)·scale)·v',
  engine: 'tfjs',
  level: 'attention',
  backends: ['cpu', 'wasm', 'webgpu'],
  modes: ['forward', 'forward+backward', 'decode-kv-cache', 'decode-no-cache'],
  setup: async (problem) => tfjsAttentionSession(problem, plainAttention),
};
