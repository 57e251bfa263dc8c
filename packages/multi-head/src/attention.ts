/**
 * The attention function a {@link MultiHeadAttention} runs between projecting and merging the
 * heads: injectable, as flax's `attention_fn`. The default is @attnkit/core's, and it says
 * which of core's paths ran.
 */
import { type AttentionDims, type AttentionPath, type Implementation, attentionWithWeights, choosePath, scaledDotProductAttention } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs';

/** What the layer passes to its attention function besides query, key and value. */
export interface AttentionFnOptions {
  /** Bool mask, `true` = may attend, broadcastable to [B, N, Tq, Tk]; null: none. */
  mask: tf.Tensor | null;
  /** Additive float32 bias broadcastable to [B, N, Tq, Tk]; null: none. */
  bias: tf.Tensor | null;
  /** Causal masking, aligned bottom-right when Tq != Tk (decoding with a cache). */
  causal: boolean;
  /** The layer's dropout rate on the attention weights; apply it only when `training`. */
  dropout: number;
  /** Whether dropout is active. */
  training: boolean;
  /** Whether the call returns the attention weights (`returnAttentionScores`): then `weights` must not be null. */
  returnWeights: boolean;
}

/** What an attention function returns. */
export interface AttentionFnResult {
  /** [B, N, Tq, Hv] */
  output: tf.Tensor4D;
  /** [B, N, Tq, Tk] before dropout when `returnWeights`, else null. */
  weights: tf.Tensor4D | null;
  /** The @attnkit/core path that ran, when the function knows it (the default always does). */
  path?: AttentionPath;
}

/**
 * An attention function: projected query [B, N, Tq, H], key [B, Nkv, Tk, H] and value
 * [B, Nkv, Tk, Hv] (Nkv divides N: grouped-query attention) -> output [B, N, Tq, Hv] and, on
 * request, weights [B, N, Tq, Tk]. It runs inside the layer's tf.tidy; tensors it returns are
 * kept, others it allocates are disposed.
 */
export type AttentionFn = (query: tf.Tensor4D, key: tf.Tensor4D, value: tf.Tensor4D, options: AttentionFnOptions) => AttentionFnResult;

/** What a layer reports as the path of its last attention call: one of core's, or `'custom'` for an attention function that does not say. */
export type AttentionPathReport = AttentionPath | 'custom';

/**
 * The default attention function: @attnkit/core's `scaledDotProductAttention`, or
 * `attentionWithWeights` when the weights are wanted, with `implementation` (default `'auto'`).
 * It reports the path core ran, by core's own rule (`choosePath`) on the same options, sizes
 * and backend. Calls that return the weights run a path that forms them (`'reference'` or
 * `'sliced'`), never a registered fused kernel nor `'chunked'`; with `implementation: 'fused'`
 * or `'chunked'` they throw.
 */
export function coreAttentionFn(implementation: Implementation = 'auto'): AttentionFn {
  return (query, key, value, options) => {
    const { returnWeights, ...rest } = options;
    const core = { ...rest, implementation };
    const op = returnWeights ? 'attentionWithWeights' : 'scaledDotProductAttention';
    // core validates and throws first; the path is then the one its choosePath took
    const { output, weights } = returnWeights
      ? attentionWithWeights(query, key, value, core)
      : { output: scaledDotProductAttention(query, key, value, core), weights: null };
    return { output, weights, path: choosePath(core, dimsOf(query, key, value), tf.getBackend(), returnWeights, op) };
  };
}

/** The sizes core's dispatch reads, from query [B, Hq, Tq, Dk], key [B, Hkv, Tk, Dk], value [B, Hkv, Tk, Dv]. */
function dimsOf(query: tf.Tensor4D, key: tf.Tensor4D, value: tf.Tensor4D): AttentionDims {
  const [B, Hq, Tq, Dk] = query.shape;
  const [, Hkv, Tk] = key.shape;
  return { B, Hq, Hkv, Tq, Tk, Dk, Dv: value.shape[3], group: Hq / Hkv };
}
