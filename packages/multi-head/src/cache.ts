import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs-core';

export interface KVCacheOptions {
  /**
   * Most tokens the cache may hold; an append past it throws before allocating anything.
   * Default `null`: the cache grows without bound.
   */
  maxLength?: number | null;
}

/** Keys and values of everything cached so far: key [B, Hkv, T, Dk], value [B, Hkv, T, Dv]. */
export interface CachedKV {
  key: tf.Tensor4D;
  value: tf.Tensor4D;
}

/**
 * Projected keys and values of one attention layer, kept between decoding steps:
 * key [B, Hkv, T, Dk] and value [B, Hkv, T, Dv]. Use one cache per layer, pass it as the
 * `cache` call option of {@link MultiHeadAttention}, and dispose it when decoding ends.
 *
 * Storage: each append concatenates the new tokens onto the stored tensors and disposes the
 * previous ones, so the cache holds exactly two tensors of length {@link length}. `maxLength`
 * caps that length. A fixed [B, Hkv, maxLength, D] buffer is deliberately not used: tfjs
 * tensors are immutable, so writing a step into a buffer copies the whole buffer anyway
 * (slice + concat or scatter), and attention would then run over all `maxLength` keys with a
 * length mask instead of over the `length` real ones.
 */
export class KVCache {
  /** Most tokens the cache may hold, or null when unbounded. */
  readonly maxLength: number | null;
  private k: tf.Tensor4D | null = null;
  private v: tf.Tensor4D | null = null;

  constructor(options: KVCacheOptions = {}) {
    const { maxLength = null } = options;
    check(maxLength === null || (Number.isInteger(maxLength) && maxLength > 0), () =>
      AttentionError.value('KVCache', 'maxLength must be a positive integer or null', maxLength),
    );
    this.maxLength = maxLength;
  }

  /** Tokens cached so far (0 when empty). */
  get length(): number {
    return this.k ? this.k.shape[2] : 0;
  }

  /** Batch size of the cached tensors, or null when empty. */
  get batchSize(): number | null {
    return this.k ? this.k.shape[0] : null;
  }

  /** Cached keys [B, Hkv, T, Dk], owned by the cache (do not dispose), or null when empty. */
  get key(): tf.Tensor4D | null {
    return this.k;
  }

  /** Cached values [B, Hkv, T, Dv], owned by the cache (do not dispose), or null when empty. */
  get value(): tf.Tensor4D | null {
    return this.v;
  }

  /**
   * Throws unless `key` and `value` shapes can be appended: rank 4, matching batch and head
   * counts with each other and with what is cached, matching head dims with what is cached,
   * and room left under `maxLength`. Allocates nothing.
   */
  checkAppend(key: readonly number[], value: readonly number[], op = 'KVCache.append'): void {
    const shapes = { key, value };
    check(key.length === 4 && value.length === 4, () => AttentionError.shapes(op, 'new key and value must be rank 4 [B, Hkv, T, D]', shapes));
    check(key[0] === value[0] && key[1] === value[1] && key[2] === value[2], () =>
      AttentionError.shapes(op, 'new key and value must agree in batch, heads and length', shapes),
    );
    if (this.k && this.v) {
      const cached = { 'cached key': this.k.shape, 'cached value': this.v.shape, 'new key': key, 'new value': value };
      check(key[0] === this.k.shape[0] && key[1] === this.k.shape[1] && key[3] === this.k.shape[3] && value[3] === this.v.shape[3], () =>
        AttentionError.shapes(op, 'new keys and values must match the cached batch, heads and head dims', cached),
      );
    }
    const total = this.length + key[2]!;
    check(this.maxLength === null || total <= this.maxLength, () =>
      AttentionError.value(op, `cache would hold ${total} tokens, over its maxLength ${this.maxLength}`, total),
    );
  }

  /**
   * Appends new keys [B, Hkv, t, Dk] and values [B, Hkv, t, Dv] and returns everything cached,
   * [B, Hkv, T + t, D]. The caller keeps ownership of its arguments; the returned tensors are
   * the cache's (they survive an enclosing tf.tidy). The tensors it replaces are disposed.
   */
  append(key: tf.Tensor, value: tf.Tensor): CachedKV {
    check(key instanceof tf.Tensor && value instanceof tf.Tensor, () => AttentionError.value('KVCache.append', 'key and value must be tensors', typeof key));
    this.checkAppend(key.shape, value.shape);
    const [k, v] = [this.k, this.v];
    const nextK = tf.keep(k ? tf.concat([k, key], 2) : tf.clone(key)) as tf.Tensor4D; // [B, Hkv, T+t, Dk]
    const nextV = tf.keep(v ? tf.concat([v, value], 2) : tf.clone(value)) as tf.Tensor4D; // [B, Hkv, T+t, Dv]
    tf.dispose([k, v].filter((t): t is tf.Tensor4D => t !== null));
    this.k = nextK;
    this.v = nextV;
    return { key: nextK, value: nextV };
  }

  /**
   * Reorders (or expands) the batch for beam search: row `i` of the result is row
   * `batchIndices[i]` of the cache. Indices may repeat; the batch size becomes
   * `batchIndices.length`. The previous tensors are disposed.
   */
  reorder(batchIndices: readonly number[]): void {
    const B = this.batchSize;
    check(B !== null, () => AttentionError.value('KVCache.reorder', 'the cache is empty', 0));
    check(batchIndices.length > 0 && batchIndices.every((i) => Number.isInteger(i) && i >= 0 && i < B), () =>
      AttentionError.value('KVCache.reorder', `batchIndices must be integers in [0, ${B})`, Array.from(batchIndices)),
    );
    const [k, v] = [this.k!, this.v!];
    const next = tf.tidy(() => {
      const idx = tf.tensor1d(Array.from(batchIndices), 'int32');
      return [tf.gather(k, idx, 0), tf.gather(v, idx, 0)] as tf.Tensor4D[]; // [B', Hkv, T, D]
    });
    tf.dispose([k, v]);
    this.k = tf.keep(next[0]!);
    this.v = tf.keep(next[1]!);
  }

  /** Empties the cache, disposing what it holds; it can be filled again. */
  reset(): void {
    tf.dispose([this.k, this.v].filter((t): t is tf.Tensor4D => t !== null));
    this.k = null;
    this.v = null;
  }

  /** Disposes the cached tensors (same as {@link reset}). */
  dispose(): void {
    this.reset();
  }
}
