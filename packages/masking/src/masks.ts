/**
 * Mask builders. Every mask is a bool tensor, `true` = may attend, broadcastable to
 * [B, H, Tq, Tk]. Causal and window masks align bottom-right when Tq != Tk (decoding with a
 * cache): query `i` sits at key position `i + offset`, with `offset = Tk - Tq` by default.
 */
import * as tf from '@tensorflow/tfjs-core';
import { AttentionError, check } from './errors.js';

/** The finite large negative that masked logits are filled with (never -Infinity). */
export const MASK_FILL = -1e9;

export interface AlignmentOptions {
  /**
   * Key position of query 0. Query `i` is aligned with key `i + offset`.
   * Default `keyLength - queryLength` (bottom-right).
   */
  offset?: number;
}

function checkLength(op: string, name: string, n: number) {
  check(Number.isInteger(n) && n > 0, () => AttentionError.value(op, `${name} must be a positive integer`, n));
}

function checkOffset(op: string, offset: number) {
  check(Number.isInteger(offset), () => AttentionError.value(op, 'offset must be an integer', offset));
}

/** [Tq, 1] aligned query positions and [1, Tk] key positions, as int32. */
function positions(queryLength: number, keyLength: number, offset: number) {
  const q = tf.reshape(tf.add(tf.range(0, queryLength, 1, 'int32'), tf.scalar(offset, 'int32')), [queryLength, 1]);
  const k = tf.reshape(tf.range(0, keyLength, 1, 'int32'), [1, keyLength]);
  return { q, k };
}

/**
 * Causal mask [Tq, Tk]: query `i` may attend key `j` iff `j <= i + offset`.
 * `keyLength` defaults to `queryLength`; `offset` defaults to `keyLength - queryLength`.
 *
 * @example causalMask(3) // [[1,0,0],[1,1,0],[1,1,1]]
 */
export function causalMask(queryLength: number, keyLength = queryLength, options: AlignmentOptions = {}): tf.Tensor2D {
  const op = 'causalMask';
  checkLength(op, 'queryLength', queryLength);
  checkLength(op, 'keyLength', keyLength);
  const offset = options.offset ?? keyLength - queryLength;
  checkOffset(op, offset);
  return tf.tidy(() => {
    const { q, k } = positions(queryLength, keyLength, offset);
    return tf.lessEqual(k, q) as tf.Tensor2D; // [Tq, Tk]
  });
}

export interface SlidingWindowOptions extends AlignmentOptions {
  /** Keys before the aligned position that may be seen (inclusive bound). */
  left: number;
  /** Keys after the aligned position that may be seen (inclusive bound). Default 0: causal. */
  right?: number;
}

/**
 * Sliding-window (local) mask [Tq, Tk]: query `i`, aligned at `p = i + offset`, may attend
 * key `j` iff `p - left <= j <= p + right`. With `right = 0` (default) it is a causal window.
 */
export function slidingWindowMask(queryLength: number, keyLength: number, options: SlidingWindowOptions): tf.Tensor2D {
  const op = 'slidingWindowMask';
  checkLength(op, 'queryLength', queryLength);
  checkLength(op, 'keyLength', keyLength);
  const { left, right = 0 } = options;
  for (const [name, w] of [
    ['left', left],
    ['right', right],
  ] as const) {
    check(Number.isInteger(w) && w >= 0, () => AttentionError.value(op, `${name} window must be a non-negative integer`, w));
  }
  const offset = options.offset ?? keyLength - queryLength;
  checkOffset(op, offset);
  return tf.tidy(() => {
    const { q, k } = positions(queryLength, keyLength, offset);
    const lo = tf.greaterEqual(k, tf.sub(q, tf.scalar(left, 'int32')));
    const hi = tf.lessEqual(k, tf.add(q, tf.scalar(right, 'int32')));
    return tf.logicalAnd(lo, hi) as tf.Tensor2D; // [Tq, Tk]
  });
}

export type PaddingMaskOptions =
  | {
      /** Valid length of each sequence; positions at or after it are padding. */
      lengths: readonly number[] | tf.Tensor1D;
      /** Padded sequence length Tk. */
      maxLength: number;
    }
  | {
      /** Token ids [B, Tk]. */
      ids: tf.Tensor2D;
      /** Id of the padding token. Default 0. */
      padId?: number;
    };

/**
 * Key padding mask [B, 1, 1, Tk]: `true` where the key is a real token. Build it either from
 * `lengths` + `maxLength` or from token `ids` + `padId`.
 */
export function paddingMask(options: PaddingMaskOptions): tf.Tensor4D {
  const op = 'paddingMask';
  if ('ids' in options) {
    const { ids, padId = 0 } = options;
    check(ids instanceof tf.Tensor && ids.rank === 2, () => AttentionError.shapes(op, 'ids must be a rank-2 tensor [B, T]', { ids: ids?.shape ?? [] }));
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      return tf.reshape(tf.notEqual(ids, tf.scalar(padId, ids.dtype)), [B, 1, 1, T]); // [B, 1, 1, Tk]
    });
  }
  const { lengths, maxLength } = options;
  checkLength(op, 'maxLength', maxLength);
  if (lengths instanceof tf.Tensor) {
    check(lengths.rank === 1, () => AttentionError.shapes(op, 'lengths must be a rank-1 tensor [B]', { lengths: lengths.shape }));
  } else {
    check(Array.isArray(lengths) && lengths.length > 0, () => AttentionError.value(op, 'lengths must be a non-empty array or a rank-1 tensor', lengths));
    for (const n of lengths) {
      check(Number.isInteger(n) && n >= 0 && n <= maxLength, () => AttentionError.value(op, `each length must be an integer in [0, ${maxLength}]`, n));
    }
  }
  return tf.tidy(() => {
    const lens = lengths instanceof tf.Tensor ? tf.cast(lengths, 'int32') : tf.tensor1d(lengths as number[], 'int32');
    const B = lens.shape[0];
    const k = tf.reshape(tf.range(0, maxLength, 1, 'int32'), [1, maxLength]);
    return tf.reshape(tf.less(k, tf.reshape(lens, [B, 1])), [B, 1, 1, maxLength]); // [B, 1, 1, Tk]
  });
}

/**
 * Segment (document) mask [B, 1, Tq, Tk]: query `i` may attend key `j` iff they carry the
 * same segment id, giving a block-diagonal mask for packed sequences. `keySegments`
 * defaults to `querySegments` (self-attention).
 */
export function segmentMask(querySegments: tf.Tensor2D, keySegments: tf.Tensor2D = querySegments): tf.Tensor4D {
  const op = 'segmentMask';
  check(querySegments instanceof tf.Tensor && querySegments.rank === 2, () =>
    AttentionError.shapes(op, 'querySegments must be a rank-2 tensor [B, Tq]', {
      querySegments: querySegments?.shape ?? [],
    }),
  );
  check(keySegments instanceof tf.Tensor && keySegments.rank === 2 && keySegments.shape[0] === querySegments.shape[0], () =>
    AttentionError.shapes(op, 'keySegments must be a rank-2 tensor [B, Tk] with the batch of querySegments', {
      querySegments: querySegments.shape,
      keySegments: keySegments?.shape ?? [],
    }),
  );
  return tf.tidy(() => {
    const [B, Tq] = querySegments.shape;
    const Tk = keySegments.shape[1];
    const q = tf.reshape(tf.cast(querySegments, 'int32'), [B, 1, Tq, 1]);
    const k = tf.reshape(tf.cast(keySegments, 'int32'), [B, 1, 1, Tk]);
    return tf.equal(q, k) as tf.Tensor4D; // [B, 1, Tq, Tk]
  });
}

/**
 * Prefix-LM mask: the first `prefixLength` positions attend to each other bidirectionally,
 * the rest causally: position `i` may attend `j` iff `j <= i` or `j < prefixLength`.
 * A number gives [T, T]; one prefix length per sequence gives [B, 1, T, T].
 */
export function prefixLMMask(length: number, prefixLength: number | readonly number[]): tf.Tensor {
  const op = 'prefixLMMask';
  checkLength(op, 'length', length);
  const prefixes = typeof prefixLength === 'number' ? [prefixLength] : [...prefixLength];
  check(prefixes.length > 0, () => AttentionError.value(op, 'prefixLength must not be empty', prefixLength));
  for (const p of prefixes) {
    check(Number.isInteger(p) && p >= 0 && p <= length, () => AttentionError.value(op, `prefixLength must be an integer in [0, ${length}]`, p));
  }
  return tf.tidy(() => {
    const { q, k } = positions(length, length, 0);
    const causal = tf.lessEqual(k, q); // [T, T]
    const B = prefixes.length;
    const inPrefix = tf.less(tf.reshape(k, [1, 1, 1, length]), tf.reshape(tf.tensor1d(prefixes, 'int32'), [B, 1, 1, 1]));
    const mask = tf.logicalOr(causal, inPrefix); // [B, 1, T, T]
    return typeof prefixLength === 'number' ? tf.reshape(mask, [length, length]) : mask;
  });
}

/** The broadcast of two shapes (right-aligned, numpy rules), or null if they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/**
 * Logical AND of any number of bool masks with broadcasting. `null`/`undefined` entries are
 * skipped; returns `null` when no mask is given. The inputs are not disposed.
 */
export function combineMasks(...masks: ReadonlyArray<tf.Tensor | null | undefined>): tf.Tensor | null {
  const op = 'combineMasks';
  const given = masks.filter((m): m is tf.Tensor => m != null);
  if (given.length === 0) return null;
  let shape: number[] | null = [];
  for (const [i, m] of given.entries()) {
    check(m.dtype === 'bool', () => AttentionError.value(op, `mask ${i} must be a bool tensor (true = attend)`, m.dtype));
    shape = shape && broadcastShapes(shape, m.shape);
  }
  check(shape !== null, () => AttentionError.shapes(op, 'masks must broadcast together', Object.fromEntries(given.map((m, i) => [`mask${i}`, m.shape]))));
  if (given.length === 1) return tf.clone(given[0]!);
  return tf.tidy(() => given.slice(1).reduce((acc, m) => tf.logicalAnd(acc, m), given[0]!));
}

/**
 * Converts a bool mask into an additive float bias of the same shape: 0 where `true`,
 * `fill` (default {@link MASK_FILL}) where `false`.
 */
export function maskToBias(mask: tf.Tensor, options: { fill?: number } = {}): tf.Tensor {
  const op = 'maskToBias';
  const { fill = MASK_FILL } = options;
  check(mask instanceof tf.Tensor && mask.dtype === 'bool', () => AttentionError.value(op, 'mask must be a bool tensor (true = attend)', mask?.dtype));
  check(Number.isFinite(fill), () => AttentionError.value(op, 'fill must be finite', fill));
  return tf.tidy(() => tf.where(mask, tf.zeros(mask.shape), tf.fill(mask.shape, fill)));
}

/**
 * A layer's mask as a bool mask: a bool tensor as it is, any other dtype `true` where nonzero
 * (Keras' and PyTorch's 0/1 masks). The one coercion every attnkit layer applies to the masks
 * it is given.
 */
export function toBoolMask(mask: tf.Tensor): tf.Tensor {
  return mask.dtype === 'bool' ? mask : tf.notEqual(mask, 0);
}

/**
 * A key padding mask [B, 1, Tk] (bool) ANDed with an attention mask (coerced by
 * {@link toBoolMask}; rank <= 3 broadcasting to [B, Tq, Tk], or rank 4 per head [B, N, Tq, Tk]).
 * Either may be null; null when both are.
 */
export function andKeyPaddingMask(padding: tf.Tensor | null, mask: tf.Tensor | null): tf.Tensor | null {
  if (!mask) return padding;
  const bool = toBoolMask(mask);
  if (!padding) return bool;
  return bool.rank === 4 ? tf.logicalAnd(tf.expandDims(padding, 1), bool) : tf.logicalAnd(padding, bool); // [B, N, Tq, Tk] or [B, Tq, Tk]
}
