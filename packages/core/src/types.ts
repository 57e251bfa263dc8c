/**
 * The types of an attention call: its options, its sizes and its result. Every other module of
 * core imports these; this module imports nothing of core's, so it can sit at the bottom of
 * every import chain.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** The formulations of attention core can run; see {@link AttentionOptions.implementation}. */
export const IMPLEMENTATIONS = ['auto', 'reference', 'sliced', 'chunked', 'fused'] as const;
export type Implementation = (typeof IMPLEMENTATIONS)[number];

/** The path a call runs: an implementation other than `'auto'` (which picks one of these). */
export type AttentionPath = Exclude<Implementation, 'auto'>;

/** Query and key tile lengths of the chunked path; a number sets both. */
export type ChunkSize = number | { query: number; key: number };

export interface AttentionOptions {
  /**
   * Bool mask, `true` = may attend, broadcastable to [B, Hq, Tq, Tk] (e.g. from
   * @attnkit/masking). Default: none.
   */
  mask?: tf.Tensor | null;
  /**
   * Additive float bias broadcastable to [B, Hq, Tq, Tk] (per head allowed, e.g. ALiBi).
   * An entry of `-Infinity` excludes its key exactly as a `false` mask entry does: a row whose
   * bias is `-Infinity` throughout gives zero output and zero weights (never NaN), and zero
   * gradients. Default: none.
   */
  bias?: tf.Tensor | null;
  /** Causal masking, aligned bottom-right when Tq != Tk; ANDed with `mask`. Default false. */
  causal?: boolean;
  /**
   * Sliding window (local attention): query `i`, aligned at `p = i + Tk - Tq`, sees keys
   * `p - left <= j <= p + right` (`right` defaults to 0); ANDed with `mask` and `causal`.
   * Default: none.
   */
  window?: { left: number; right?: number } | null;
  /** Multiplier of the logits (applied to the query). Default 1/sqrt(Dk). */
  scale?: number;
  /** Dropout rate on the attention weights, applied only when `training`. Default 0. */
  dropout?: number;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Seed of the dropout pattern; the same seed gives the same pattern. Default: random. */
  seed?: number;
  /**
   * Which formulation computes the call; `choosePath` (dispatch.ts) holds the rule.
   * - `'reference'`: batched rank-4 matMuls, the readable spec (reference.ts).
   * - `'sliced'`: the same math with one rank-2 matMul per (batch, kv head), much faster on
   *   wasm for long sequences.
   * - `'chunked'`: flash-style tiles with an online softmax, O(T) memory forward and backward
   *   (README, "Long sequences").
   * - `'fused'`: a fused kernel registered for the active backend (e.g. by @attnkit/kernels'
   *   `registerFusedAttention()`).
   * - `'auto'` (default): `'fused'` when such a kernel is registered and takes the call (no
   *   active dropout); else `'chunked'` when B·Hq·Tq·Tk reaches the backend's
   *   {@link AUTO_CHUNKED_MIN_SCORES}; else `'sliced'` on the wasm and cpu backends once a
   *   slice holds at least {@link SLICED_MIN_SCORES} scores, `'reference'` otherwise. Calls
   *   that return the weights (`attentionWeights`, `attentionWithWeights`) skip the first two.
   *
   * One rule for every entry point: a path named explicitly runs as named or throws an
   * `AttentionError` saying why; it never falls back silently. `'chunked'` and `'fused'` never
   * form the [Tq, Tk] weights, so the calls that return them refuse those two.
   */
  implementation?: Implementation;
  /**
   * Tile lengths of `'chunked'`: a number for both, or `{ query, key }`. Default
   * `{ query: 512, key: 512 }` (measured; README, "Long sequences").
   */
  chunkSize?: ChunkSize;
}

/** Sizes of one attention call: query [B, Hq, Tq, Dk], key [B, Hkv, Tk, Dk], value [B, Hkv, Tk, Dv]. */
export interface AttentionDims {
  B: number;
  Hq: number;
  Hkv: number;
  Tq: number;
  Tk: number;
  Dk: number;
  Dv: number;
  /** Query heads per key/value head: Hq / Hkv. */
  group: number;
}

export interface AttentionResult {
  /** [B, Hq, Tq, Dv] */
  output: tf.Tensor4D;
  /** [B, Hq, Tq, Tk], before dropout; rows sum to 1, or are all 0 where nothing may be attended. */
  weights: tf.Tensor4D;
}

/**
 * The two matrix products of attention. The reference and sliced paths share the masking,
 * softmax and dropout around them (reference.ts), so they differ only here, in how they
 * multiply.
 */
export interface Products {
  /** query [B, Hq, Tq, Dk] · keyᵀ with key [B, Hkv, Tk, Dk] -> scores [B, Hq, Tq, Tk]. */
  scores(query: tf.Tensor, key: tf.Tensor, dims: AttentionDims): tf.Tensor;
  /** weights [B, Hq, Tq, Tk] · value [B, Hkv, Tk, Dv] -> output [B, Hq, Tq, Dv]. */
  mix(weights: tf.Tensor, value: tf.Tensor, dims: AttentionDims): tf.Tensor;
}
