/**
 * The types of MultiHeadAttention's arguments and call options, and of the identifiers its
 * initializer, regularizer and constraint arguments take. Types only: layer.ts and config.ts
 * both import them.
 */
import type { Implementation } from '@attnkit/core';
import type * as tf from '@tensorflow/tfjs';
import type { AttentionFn } from './attention.js';
import type { KVCache } from './cache.js';
import type { PositionHook } from './hook.js';

export type Initializer = ReturnType<typeof tf.initializers.ones>;
export type Regularizer = ReturnType<typeof tf.regularizers.l2>;
export type Constraint = ReturnType<typeof tf.constraints.nonNeg>;

/** A tfjs identifier (`'glorotUniform'`), a Keras one (`'glorot_uniform'`), a serialized config or an instance. */
export type Identifier<T> = string | T | { className: string; config: tf.serialization.ConfigDict };

/** The base options every tfjs layer takes (`name`, `trainable`, `inputShape`, `dtype`, …). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;

export interface MultiHeadAttentionArgs extends LayerArgs {
  /** Number of query heads N. Required. */
  numHeads: number;
  /** Size of each query and key head H. Required. */
  keyDim: number;
  /** Size of each value head Hv. Default `keyDim`. */
  valueDim?: number | null;
  /**
   * Number of key/value heads for grouped-query attention; must divide `numHeads`. `1` is
   * multi-query attention. Default `numHeads` (plain multi-head attention).
   */
  numKeyValueHeads?: number | null;
  /** Dropout rate on the attention weights, applied only when `training`. Default 0. */
  dropout?: number;
  /** Whether the four projections have biases. Default true. */
  useBias?: boolean;
  /** Output feature shape (a number or a list of dims). Default: the query's last dim. */
  outputShape?: number | number[] | null;
  /** Default `'glorotUniform'`. Keras names (`'glorot_uniform'`) and serialized configs are accepted. */
  kernelInitializer?: Identifier<Initializer>;
  /** Default `'zeros'`. */
  biasInitializer?: Identifier<Initializer>;
  /** Default none. */
  kernelRegularizer?: Identifier<Regularizer> | null;
  /** Default none. */
  biasRegularizer?: Identifier<Regularizer> | null;
  /** Default none. */
  kernelConstraint?: Identifier<Constraint> | null;
  /** Default none. */
  biasConstraint?: Identifier<Constraint> | null;
  /**
   * Shorthand for `attentionFn: coreAttentionFn(implementation)`: the @attnkit/core path
   * (`'reference'`, `'sliced'`, `'chunked'`, `'fused'`) or `'auto'`; serialized. Default `'auto'`.
   * With a custom `attentionFn` only `'auto'` (what a saved config carries) is allowed.
   */
  implementation?: Implementation;
  /**
   * The attention between projecting and merging the heads, as flax's `attention_fn`: called
   * with projected query [B, N, Tq, H], key [B, Nkv, Tk, H], value [B, Nkv, Tk, Hv] and the
   * call's mask, bias, causal flag, dropout and whether weights are wanted (see
   * {@link AttentionFn}). Not serialized: a layer rebuilt from its config (`fromConfig`,
   * `tf.loadLayersModel`) runs the default; pass it again. Giving it together with an
   * `implementation` other than `'auto'` throws. Default `coreAttentionFn(implementation)`.
   */
  attentionFn?: AttentionFn | null;
  /**
   * Applied to projected queries and new keys [B, H, T, D] (e.g. rotary embeddings). Not
   * serialized: pass it again after `fromConfig`. Default none.
   */
  positionHook?: PositionHook | null;
  /**
   * Causal masking for calls that do not say (`useCausalMask` call option), serialized in the
   * config. This is how a causal layer goes into a `tf.model`: tfjs' model executor calls
   * layers without their graph-node options. Default false.
   */
  useCausalMask?: boolean;
  /**
   * Return `[output, scores]` for calls that do not say (`returnAttentionScores` call option),
   * serialized in the config; inside a `tf.model` the scores are the layer's second output.
   * Scores need a path that forms the weights: such calls never run a fused kernel nor
   * `'chunked'` (see the layer's `lastAttentionPath`). Default false.
   */
  returnAttentionScores?: boolean;
  /** Input shapes to build the weights from at construction, as Keras' config stores them. Default: build on first call. */
  queryShape?: tf.Shape | null;
  valueShape?: tf.Shape | null;
  keyShape?: tf.Shape | null;
}

export interface MultiHeadAttentionCallOptions {
  /** Value input [B, Tk, dv]. Required unless passed as the second input. */
  value?: tf.Tensor;
  /** Key input [B, Tk, dk]. Default: `value`. */
  key?: tf.Tensor | null;
  /**
   * Bool mask (true = attend; other dtypes: nonzero = attend) broadcastable to [B, Tq, Tk],
   * as in Keras, or rank 4 [B, N, Tq, Tk] per head; Tk counts cached tokens too. Default none.
   */
  attentionMask?: tf.Tensor | null;
  /**
   * Additive float32 bias on the logits, beside `attentionMask`: rank <= 3 broadcasts to
   * [B, Tq, Tk] (every head), rank 4 to [B, N, Tq, Tk] (per head). PyTorch's 0/-inf float masks
   * convert with `fromTorchAttentionMask`. Default none.
   */
  attentionBias?: tf.Tensor | null;
  /**
   * Causal masking, ANDed with `attentionMask`. Aligned bottom-right when Tq != Tk (query i sees
   * keys j <= i + Tk - Tq), which is what decoding with a cache needs. Default: the
   * constructor's `useCausalMask` (false).
   */
  useCausalMask?: boolean;
  /**
   * Return `[output, scores]`, scores per query head [B, N, Tq, Tk] before dropout. With the
   * default attention function the call then runs core's `'reference'` or `'sliced'` path, not
   * a registered fused kernel nor `'chunked'`: `layer.lastAttentionPath` says which ran.
   * Default: the constructor's `returnAttentionScores` (false).
   */
  returnAttentionScores?: boolean;
  /** With scores: average them over heads, [B, Tq, Tk], as PyTorch's `average_attn_weights=True`. Default false. */
  averageWeights?: boolean;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Cache of this layer's projected keys/values; new ones are appended before attending. Default none. */
  cache?: KVCache | null;
}

/**
 * Options of `apply()`: the call options, with `value`/`key` also as SymbolicTensors (inside a
 * `tf.model`, where only `training` and options equal to the constructor's are allowed).
 */
export type MultiHeadAttentionApplyOptions = Omit<MultiHeadAttentionCallOptions, 'value' | 'key'> & {
  value?: tf.Tensor | tf.SymbolicTensor;
  key?: tf.Tensor | tf.SymbolicTensor | null;
};
