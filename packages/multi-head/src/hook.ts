import type * as tf from '@tensorflow/tfjs-core';

/**
 * Applies position information to projected queries or keys [B, H, T, D] whose first token
 * sits at `offset` (default 0). Rotary embeddings from @attnkit/positional fit this shape;
 * any object with such an `apply` does. MultiHeadAttention calls it on the projected queries
 * and on the NEW keys before they enter a {@link KVCache}, with `offset` = the number of
 * tokens already cached.
 */
export interface PositionHook {
  apply(x: tf.Tensor, offset?: number): tf.Tensor;
}
