/**
 * ALiBi (Press et al., "Train Short, Test Long", 2022): no position embedding at all; each head
 * adds `-slope * distance` to its attention logits, so far-away keys are penalised linearly with
 * a head-specific slope.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInteger } from './validate.js';

/** Slopes of a power-of-two head count `n`: the geometric sequence 2^(-8/n), 2^(-16/n), …, 2^(-8). */
function powerOfTwoSlopes(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 2 ** ((-8 * (i + 1)) / n));
}

/**
 * Per-head ALiBi slopes by the paper's rule.
 *
 * - A power-of-two head count `n` gets the geometric sequence starting at `2^(-8/n)` with that
 *   same ratio: 8 heads → 2^-1, 2^-2, …, 2^-8.
 * - Otherwise, with `p` the largest power of two below `n`, the first `p` slopes are those of
 *   `p` heads, followed by the first `n - p` of every other slope of `2p` heads (the ones that
 *   interleave between them): 12 heads → 2^-1 … 2^-8, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
 *
 * @param numHeads number of attention heads, a positive integer.
 * @returns `numHeads` slopes, head 0 first.
 */
export function alibiSlopes(numHeads: number): number[] {
  checkPositiveInteger('alibiSlopes', 'numHeads', numHeads);
  const p = 2 ** Math.floor(Math.log2(numHeads));
  if (p === numHeads) return powerOfTwoSlopes(numHeads);
  const extra = alibiSlopes(2 * p).filter((_, i) => i % 2 === 0);
  return [...powerOfTwoSlopes(p), ...extra.slice(0, numHeads - p)];
}

export interface AlibiBiasOptions {
  /**
   * Key position of query 0: query `i` sits at key position `i + offset`.
   * Default `keyLength - queryLength` (bottom-right, as when decoding with a cache).
   */
  offset?: number;
}

/**
 * ALiBi bias `[1, H, Tq, Tk]` (float32), to pass as core's `bias` option.
 *
 * With query `i` aligned at key position `p = i + offset`, head `h` gets
 * `bias[0, h, i, j] = -slope[h] * |p - j|`:
 * - keys at or before the query (`j <= p`) get `-slope * (p - j)`, the paper's causal bias;
 * - keys after the query (`j > p`) get the **symmetric** penalty `-slope * (j - p)`, so the same
 *   tensor also serves bidirectional (encoder) attention. A causal decoder masks those keys
 *   anyway, so the choice does not change its output.
 *
 * @param numHeads number of heads `H`, a positive integer.
 * @param queryLength `Tq`, a positive integer.
 * @param keyLength `Tk`, a positive integer. Default `queryLength`.
 * @param options `offset` (default `keyLength - queryLength`, bottom-right alignment).
 */
export function alibiBias(numHeads: number, queryLength: number, keyLength = queryLength, options: AlibiBiasOptions = {}): tf.Tensor4D {
  const op = 'alibiBias';
  checkPositiveInteger(op, 'numHeads', numHeads);
  checkPositiveInteger(op, 'queryLength', queryLength);
  checkPositiveInteger(op, 'keyLength', keyLength);
  const offset = options.offset ?? keyLength - queryLength;
  check(Number.isInteger(offset), () => AttentionError.value(op, 'offset must be an integer', offset));
  const slopes = alibiSlopes(numHeads);
  return tf.tidy(() => {
    // Integer distances are exact in float32 up to 2^24; the one multiply rounds once.
    const q = tf.reshape(tf.range(offset, offset + queryLength, 1, 'float32'), [queryLength, 1]); // [Tq, 1]
    const k = tf.reshape(tf.range(0, keyLength, 1, 'float32'), [1, keyLength]); // [1, Tk]
    const distance = tf.reshape(tf.abs(tf.sub(q, k)), [1, 1, queryLength, keyLength]); // [1, 1, Tq, Tk]
    const negSlopes = tf.tensor4d(
      slopes.map((s) => -s),
      [1, numHeads, 1, 1],
      'float32',
    ); // [1, H, 1, 1]
    return tf.mul(negSlopes, distance) as tf.Tensor4D; // [1, H, Tq, Tk]
  });
}
