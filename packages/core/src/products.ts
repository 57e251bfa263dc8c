import type * as tf from '@tensorflow/tfjs-core';
import type { AttentionDims } from './validate.js';

/**
 * The two matrix products of attention. Every implementation shares the masking, softmax
 * and dropout around them (attention.ts), so they differ only here, in how they multiply.
 */
export interface Products {
  /** query [B, Hq, Tq, Dk] · keyᵀ with key [B, Hkv, Tk, Dk] -> scores [B, Hq, Tq, Tk]. */
  scores(query: tf.Tensor, key: tf.Tensor, dims: AttentionDims): tf.Tensor;
  /** weights [B, Hq, Tq, Tk] · value [B, Hkv, Tk, Dv] -> output [B, Hq, Tq, Dv]. */
  mix(weights: tf.Tensor, value: tf.Tensor, dims: AttentionDims): tf.Tensor;
}
