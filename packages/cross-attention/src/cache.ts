import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import { KVCache } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs-core';

/**
 * The encoder memory of one source batch as a cross-attention layer sees it: keys
 * [B, Hkv, Ts, H] and values [B, Hkv, Ts, Hv], projected once by
 * {@link CrossAttention.projectMemory}, plus the memory padding mask [B, 1, Ts] (true = real
 * token). Reused at every decoding step; reorder it with the beams; dispose it when done.
 */
export class MemoryCache {
  private readonly kv = new KVCache();
  private maskTensor: tf.Tensor3D | null;

  /** Takes ownership of `key`, `value` and `mask`. */
  constructor(key: tf.Tensor4D, value: tf.Tensor4D, mask: tf.Tensor3D | null) {
    this.kv.append(key, value);
    tf.dispose([key, value]);
    this.maskTensor = mask;
  }

  /** Projected keys [B, Hkv, Ts, H], owned by the cache. */
  get key(): tf.Tensor4D {
    return this.live().key!;
  }

  /** Projected values [B, Hkv, Ts, Hv], owned by the cache. */
  get value(): tf.Tensor4D {
    return this.live().value!;
  }

  /** Memory padding mask [B, 1, Ts] (true = real token), or null when every position is real. */
  get mask(): tf.Tensor3D | null {
    this.live();
    return this.maskTensor;
  }

  /** Batch size B (beams count as batch rows). */
  get batchSize(): number {
    return this.live().batchSize!;
  }

  /** Memory length Ts. */
  get length(): number {
    return this.live().length;
  }

  /**
   * Reorders (or expands) the batch for beam search: row `i` becomes row `batchIndices[i]`.
   * The replaced tensors are disposed.
   */
  reorder(batchIndices: readonly number[]): void {
    this.live().reorder(batchIndices); // validates the indices
    if (this.maskTensor) {
      const old = this.maskTensor;
      this.maskTensor = tf.tidy(() => tf.gather(old, tf.tensor1d(Array.from(batchIndices), 'int32'), 0)) as tf.Tensor3D; // [B', 1, Ts]
      old.dispose();
    }
  }

  /** Disposes the projected memory and mask; the cache cannot be used afterwards. */
  dispose(): void {
    this.kv.dispose();
    this.maskTensor?.dispose();
    this.maskTensor = null;
  }

  private live(): KVCache {
    check(this.kv.length > 0, () => AttentionError.value('MemoryCache', 'the cache has been disposed', 'disposed'));
    return this.kv;
  }
}
