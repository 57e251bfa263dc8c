/**
 * PyTorch's mask conventions, converted explicitly. attnkit: a bool mask is `true` = may attend
 * and an additive float bias is a separate option. PyTorch (`nn.MultiheadAttention`,
 * `nn.Transformer`, `F.scaled_dot_product_attention`): a bool `attn_mask` or
 * `key_padding_mask` is `True` = may NOT attend; a float one is added to the logits, `-inf`
 * where not allowed; a 3-D `attn_mask` is per head, [B·H, Tq, Tk] with batch major.
 *
 * Every helper returns `{ attentionMask, attentionBias }` in the layout MultiHeadAttention
 * takes (rank <= 3: [B, Tq, Tk] broadcasting; rank 4: [B, N, Tq, Tk]): pass both on as call
 * options. A float mask becomes a bool mask (`-inf` entries) plus a bias with those entries
 * zeroed, so that a row PyTorch masks completely gives attnkit's zeros instead of NaN, and
 * partly masked rows give PyTorch's numbers. The caller owns the returned tensors.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';

/** A mask and a bias ready for MultiHeadAttention's call options; either may be null. */
export interface AttnkitMasks {
  /** Bool, true = may attend. */
  attentionMask: tf.Tensor | null;
  /** Float32, added to the logits. */
  attentionBias: tf.Tensor | null;
}

/** tf.tidy for a function returning AttnkitMasks (tidy's typing does not take nullable fields). */
function tidyMasks(fn: () => AttnkitMasks): AttnkitMasks {
  const out = tf.tidy(() => {
    const { attentionMask, attentionBias } = fn();
    const kept: Record<string, tf.Tensor> = {};
    if (attentionMask) kept.mask = attentionMask;
    if (attentionBias) kept.bias = attentionBias;
    return kept;
  }) as Record<string, tf.Tensor>;
  return { attentionMask: out.mask ?? null, attentionBias: out.bias ?? null };
}

function checkMask(op: string, name: string, mask: unknown): asserts mask is tf.Tensor {
  check(mask instanceof tf.Tensor && !mask.isDisposed, () => AttentionError.value(op, `${name} must be a live tf.Tensor`, mask == null ? mask : typeof mask));
  check(mask.dtype === 'bool' || mask.dtype === 'float32', () =>
    AttentionError.value(op, `${name} must be bool (True = ignore) or float32 (additive, -inf = ignore)`, mask.dtype),
  );
}

/** bool True = ignore, or float additive with -inf = ignore -> attnkit mask (and bias for floats). */
function convert(mask: tf.Tensor): AttnkitMasks {
  if (mask.dtype === 'bool') return { attentionMask: tf.logicalNot(mask), attentionBias: null };
  return tidyMasks(() => {
    const allowed = tf.notEqual(mask, tf.scalar(Number.NEGATIVE_INFINITY));
    return { attentionMask: allowed, attentionBias: tf.where(allowed, mask, tf.zerosLike(mask)) };
  });
}

/**
 * PyTorch `attn_mask` -> attnkit. [Tq, Tk] stays [Tq, Tk] (every batch and head);
 * [B·H, Tq, Tk] becomes [B, H, Tq, Tk] (`numHeads` required); a 4-D [B, H, Tq, Tk] mask (as
 * `F.scaled_dot_product_attention` takes) stays as it is. Note that `F.scaled_dot_product_attention`'s
 * bool masks are True = may attend, unlike nn.MultiheadAttention's: pass those to attnkit as they are.
 */
export function fromTorchAttentionMask(mask: tf.Tensor, options: { numHeads?: number } = {}): AttnkitMasks {
  const op = 'fromTorchAttentionMask';
  checkMask(op, 'attn_mask', mask);
  check(mask.rank >= 2 && mask.rank <= 4, () =>
    AttentionError.shapes(op, 'attn_mask must be [Tq, Tk], [B*H, Tq, Tk] or (scaled_dot_product_attention) [B, H, Tq, Tk]', { attn_mask: mask.shape }),
  );
  if (mask.rank !== 3) return convert(mask);
  const { numHeads } = options;
  const [BH, Tq, Tk] = mask.shape as [number, number, number];
  check(Number.isInteger(numHeads) && numHeads! > 0 && BH % numHeads! === 0, () =>
    AttentionError.shapes(op, `a 3-D attn_mask needs numHeads dividing its first dim (numHeads ${numHeads})`, { attn_mask: mask.shape }),
  );
  return tidyMasks(() => convert(tf.reshape(mask, [BH / numHeads!, numHeads!, Tq, Tk]))); // [B, H, Tq, Tk]
}

/** PyTorch `key_padding_mask` [B, Tk] (True = padding, or float additive) -> attnkit [B, 1, Tk]. */
export function fromTorchKeyPaddingMask(mask: tf.Tensor): AttnkitMasks {
  const op = 'fromTorchKeyPaddingMask';
  checkMask(op, 'key_padding_mask', mask);
  check(mask.rank === 2, () => AttentionError.shapes(op, 'key_padding_mask must be [B, Tk]', { key_padding_mask: mask.shape }));
  return tidyMasks(() => convert(tf.expandDims(mask, 1))); // [B, 1, Tk]
}

/** [.., Tk] of rank <= 3 ([B, Tq, Tk] broadcasting) or 4 -> rank 4 [B|1, N|1, Tq|1, Tk]. */
function rank4(x: tf.Tensor): tf.Tensor {
  if (x.rank === 4) return x;
  const three = tf.reshape(x, [...Array(3 - x.rank).fill(1), ...x.shape]); // [B|1, Tq|1, Tk]
  return tf.expandDims(three, 1); // [B|1, 1, Tq|1, Tk]
}

/**
 * What PyTorch merges from `attn_mask` and `key_padding_mask` in one call (either may be
 * null): masks ANDed, biases added, as rank-4 [B|1, H|1, Tq|1, Tk] tensors (null when neither
 * contributes). `numHeads` is needed for a 3-D `attn_mask`.
 */
export function fromTorchMasks(options: { attnMask?: tf.Tensor | null; keyPaddingMask?: tf.Tensor | null; numHeads?: number }): AttnkitMasks {
  const { attnMask = null, keyPaddingMask = null, numHeads } = options;
  const parts: AttnkitMasks[] = [];
  if (attnMask != null) parts.push(fromTorchAttentionMask(attnMask, numHeads === undefined ? {} : { numHeads }));
  if (keyPaddingMask != null) parts.push(fromTorchKeyPaddingMask(keyPaddingMask));
  return mergeMasks(parts);
}

/** Merges converted masks (ANDed) and biases (added) as rank-4 tensors; disposes the parts. */
export function mergeMasks(parts: AttnkitMasks[]): AttnkitMasks {
  try {
    return tidyMasks(() => {
      const masks = parts.flatMap((p) => (p.attentionMask ? [rank4(p.attentionMask)] : []));
      const biases = parts.flatMap((p) => (p.attentionBias ? [rank4(p.attentionBias)] : []));
      const attentionMask = masks.length ? masks.reduce((a, b) => tf.logicalAnd(a, b)) : null;
      const attentionBias = biases.length ? biases.reduce((a, b) => tf.add(a, b)) : null;
      // tidy keeps returned tensors; an input returned as is would be disposed with the parts
      return { attentionMask: attentionMask && tf.clone(attentionMask), attentionBias: attentionBias && tf.clone(attentionBias) };
    });
  } finally {
    for (const p of parts) tf.dispose([p.attentionMask, p.attentionBias].filter((t): t is tf.Tensor => t !== null));
  }
}
