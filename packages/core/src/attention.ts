/**
 * The three entry points. Each one validates its inputs (validate.ts), asks
 * {@link choosePath} (dispatch.ts) which path runs the call, and runs it inside tf.tidy: the
 * reference math (reference.ts), the same math on sliced products (sliced.ts), chunked
 * tiles (chunked.ts) or a registered fused kernel (fused.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { chunkedAttention } from './chunked.js';
import { choosePath } from './dispatch.js';
import { fusedAttention } from './fused.js';
import { referenceAttention, referenceProducts, referenceWeights } from './reference.js';
import { slicedProducts } from './sliced.js';
import type { AttentionOptions, AttentionPath, AttentionResult, Products } from './types.js';
import { validate } from './validate.js';

/** The products of a path that forms the weights. */
function productsOf(path: AttentionPath): Products {
  return path === 'sliced' ? slicedProducts : referenceProducts;
}

/** tf.tidy for a function returning a structure of tensors, keeping its type. */
function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/**
 * Scaled dot-product attention: softmax(Q·Kᵀ·scale + bias, masked) · V.
 *
 * query [B, Hq, Tq, Dk], key [B, Hkv, Tk, Dk], value [B, Hkv, Tk, Dv] with Hq a multiple of
 * Hkv (GQA/MQA) -> output [B, Hq, Tq, Dv]. A query row with nothing to attend to (mask,
 * causal, window, or a bias of -Infinity throughout) gives zeros. Throws
 * {@link AttentionError} on bad input, before allocating anything.
 */
export function scaledDotProductAttention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: AttentionOptions = {}): tf.Tensor4D {
  const op = 'scaledDotProductAttention';
  const dims = validate(op, query, key, value, options);
  const path = choosePath(options, dims, tf.getBackend(), false, op);
  return tf.tidy(() => {
    if (path === 'fused') return fusedAttention(query, key, value, options, dims);
    if (path === 'chunked') return chunkedAttention(query, key, value, options, dims);
    return referenceAttention(query, key, value, options, dims, productsOf(path)).output;
  });
}

/**
 * Output and weights of one attention call, computed once; see {@link scaledDotProductAttention}.
 * Runs a path that forms the weights: `implementation: 'chunked'` or `'fused'` throws.
 */
export function attentionWithWeights(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: AttentionOptions = {}): AttentionResult {
  const op = 'attentionWithWeights';
  const dims = validate(op, query, key, value, options);
  const path = choosePath(options, dims, tf.getBackend(), true, op);
  return tidy(() => referenceAttention(query, key, value, options, dims, productsOf(path)));
}

/**
 * Attention weights [B, Hq, Tq, Tk] = softmax(Q·Kᵀ·scale + bias, masked), without dropout.
 * Rows sum to 1, or are all zero where nothing may be attended. `implementation: 'chunked'`
 * or `'fused'` throws: neither forms the weights.
 */
export function attentionWeights(query: tf.Tensor, key: tf.Tensor, options: Omit<AttentionOptions, 'dropout' | 'training' | 'seed'> = {}): tf.Tensor4D {
  const op = 'attentionWeights';
  const dims = validate(op, query, key, null, options);
  const path = choosePath(options, dims, tf.getBackend(), true, op);
  return tf.tidy(() => referenceWeights(query, key, options, dims, productsOf(path)) as tf.Tensor4D);
}
