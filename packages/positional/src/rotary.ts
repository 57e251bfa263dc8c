/**
 * Rotary position embedding (RoPE; Su et al., "RoFormer", 2021). Feature pairs of a query or key
 * at position `m` are rotated by the angles `m * theta_i`, `theta_i = base^(-2i/dim)`, so that the
 * dot product of a rotated query at `m` and key at `n` depends on `m - n` only.
 *
 * The rotation angles are computed in float64 on the CPU and rounded once to float32 (as
 * cos/sin tables); the rotation itself is tfjs ops on the input and so is differentiable.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs-core';
import { checkBase, checkOffset, checkPositiveInteger } from './validate.js';

/**
 * Applies position information to projected queries or keys `[B, H, T, D]` whose first token
 * sits at `offset` (default 0). Multi-head attention calls it on queries and keys after the
 * projection and before the dot product; with a KV cache, `offset` is the cache length.
 */
export interface PositionHook {
  apply(x: tf.Tensor, offset?: number): tf.Tensor;
}

/** Which features form a rotated pair. */
export type RotaryLayout = 'half' | 'interleaved';

export interface RotaryOptions {
  /** Number of features rotated, an even positive integer; the first `dim` of `D`. Required. */
  dim: number;
  /** Frequency base. Default 10000. */
  base?: number;
  /**
   * Pairing of features. Default `'half'`.
   * - `'half'` (GPT-NeoX, LLaMA in Hugging Face): feature `i` pairs with `i + dim/2`.
   * - `'interleaved'` (GPT-J, the RoFormer paper): feature `2i` pairs with `2i + 1`.
   */
  layout?: RotaryLayout;
  /**
   * Linear position scaling (position interpolation): positions are divided by `scaling` before
   * the angles are taken, so `scaling = 4` fits 4× as many positions into the trained range.
   * Default 1.
   */
  scaling?: number;
}

/** What {@link RotaryEmbedding.getConfig} returns: every option, defaults filled in. */
export interface RotaryConfig {
  dim: number;
  base: number;
  layout: RotaryLayout;
  scaling: number;
}

const LAYOUTS: readonly RotaryLayout[] = ['half', 'interleaved'];

/**
 * Rotary embedding for `[B, H, T, D]` queries and keys. Implements {@link PositionHook}.
 * When `D > dim`, the first `dim` features are rotated and the rest pass through unchanged
 * (partial rotary, as GPT-NeoX and GPT-J use).
 *
 * @example
 * const rope = new RotaryEmbedding({ dim: 64 });
 * const q = rope.apply(query, cacheLength); // query [B, H, T, 64] at positions cacheLength …
 */
export class RotaryEmbedding implements PositionHook {
  readonly dim: number;
  readonly base: number;
  readonly layout: RotaryLayout;
  readonly scaling: number;

  constructor(options: RotaryOptions) {
    const op = 'RotaryEmbedding';
    const { dim, base = 10000, layout = 'half', scaling = 1 } = options ?? ({} as RotaryOptions);
    checkPositiveInteger(op, 'dim', dim);
    check(dim % 2 === 0, () => AttentionError.value(op, 'dim must be even', dim));
    checkBase(op, base);
    check(LAYOUTS.includes(layout), () => AttentionError.value(op, `layout must be one of ${LAYOUTS.join(', ')}`, layout));
    check(typeof scaling === 'number' && Number.isFinite(scaling) && scaling > 0, () =>
      AttentionError.value(op, 'scaling must be a positive finite number', scaling),
    );
    this.dim = dim;
    this.base = base;
    this.layout = layout;
    this.scaling = scaling;
  }

  /** A rotary embedding from a {@link RotaryConfig} (or any options), e.g. one that getConfig wrote. */
  static fromConfig(config: RotaryOptions): RotaryEmbedding {
    return new RotaryEmbedding(config);
  }

  getConfig(): RotaryConfig {
    return { dim: this.dim, base: this.base, layout: this.layout, scaling: this.scaling };
  }

  /**
   * Rotates `x` `[B, H, T, D]` as tokens at positions `offset … offset+T-1`.
   * @param offset position of the first token, a non-negative integer. Default 0.
   * @returns `[B, H, T, D]` float32.
   */
  apply(x: tf.Tensor, offset = 0): tf.Tensor {
    const op = 'RotaryEmbedding.apply';
    this.checkInput(op, x);
    checkOffset(op, offset);
    const length = x.shape[2]!;
    return this.rotate(
      x,
      Array.from({ length }, (_, t) => offset + t),
    );
  }

  /**
   * Rotates `x` `[B, H, T, D]` with an explicit position per token (shared over batch and heads).
   * A tensor of positions is read back to the CPU (it is small: `T` numbers).
   * @param positions `T` finite numbers (need not be integers or increasing).
   * @returns `[B, H, T, D]` float32.
   */
  applyAt(x: tf.Tensor, positions: number[] | tf.Tensor1D): tf.Tensor {
    const op = 'RotaryEmbedding.applyAt';
    this.checkInput(op, x);
    const length = x.shape[2]!;
    let values: number[];
    if (positions instanceof tf.Tensor) {
      check(positions.rank === 1 && positions.shape[0] === length, () =>
        AttentionError.shapes(op, 'positions must be [T] for x [B, H, T, D]', { positions: positions.shape, x: x.shape }),
      );
      values = Array.from(positions.dataSync() as ArrayLike<number>);
    } else {
      check(Array.isArray(positions) && positions.length === length, () =>
        AttentionError.shapes(op, 'positions must be [T] for x [B, H, T, D]', {
          positions: [Array.isArray(positions) ? positions.length : -1],
          x: x.shape,
        }),
      );
      values = positions;
    }
    const bad = values.find((p) => typeof p !== 'number' || !Number.isFinite(p));
    check(bad === undefined, () => AttentionError.value(op, 'positions must be finite numbers', bad));
    return this.rotate(x, values);
  }

  private checkInput(op: string, x: tf.Tensor) {
    check(x instanceof tf.Tensor, () => AttentionError.value(op, 'x must be a tf.Tensor', typeof x));
    check(x.rank === 4, () => AttentionError.shapes(op, 'x must be rank 4 [B, H, T, D]', { x: x.shape }));
    check(x.dtype === 'float32', () => AttentionError.value(op, 'x must be float32', x.dtype));
    check(x.shape[3]! >= this.dim, () => AttentionError.shapes(op, `x's last dimension must be at least the rotary dim ${this.dim}`, { x: x.shape }));
    check(x.size > 0, () => AttentionError.shapes(op, 'x must not be empty', { x: x.shape }));
  }

  /** cos and sin of the angles `position / scaling * base^(-2i/dim)`, float64 → float32, [T * dim/2]. */
  private tables(positions: readonly number[]) {
    const half = this.dim / 2;
    const cos = new Float32Array(positions.length * half);
    const sin = new Float32Array(positions.length * half);
    for (let i = 0; i < half; i++) {
      const theta = Math.exp((-Math.log(this.base) * 2 * i) / this.dim);
      positions.forEach((p, t) => {
        const angle = (p / this.scaling) * theta;
        cos[t * half + i] = Math.cos(angle);
        sin[t * half + i] = Math.sin(angle);
      });
    }
    return { cos, sin };
  }

  private rotate(x: tf.Tensor, positions: readonly number[]): tf.Tensor {
    const [b, h, t, d] = x.shape as [number, number, number, number];
    const half = this.dim / 2;
    const { cos, sin } = this.tables(positions);
    return tf.tidy(() => {
      // 1) split off the features that are not rotated
      const [rot, pass] = d > this.dim ? tf.split(x, [this.dim, d - this.dim], 3) : [x, null];
      let rotated: tf.Tensor;
      if (this.layout === 'half') {
        // 2) pairs (i, i + dim/2): [x1, x2] -> [x1 cos - x2 sin, x2 cos + x1 sin]
        const c = tf.tensor2d(cos, [t, half]); // [T, dim/2], broadcast over [B, H, T, dim/2]
        const s = tf.tensor2d(sin, [t, half]); // [T, dim/2]
        const [x1, x2] = tf.split(rot!, 2, 3) as [tf.Tensor, tf.Tensor]; // [B, H, T, dim/2] each
        const o1 = tf.sub(tf.mul(x1, c), tf.mul(x2, s));
        const o2 = tf.add(tf.mul(x2, c), tf.mul(x1, s));
        rotated = tf.concat([o1, o2], 3); // [B, H, T, dim]
      } else {
        // 2) pairs (2i, 2i + 1), the same rotation on a trailing axis of 2
        const c = tf.tensor3d(cos, [t, half, 1]); // [T, dim/2, 1]
        const s = tf.tensor3d(sin, [t, half, 1]); // [T, dim/2, 1]
        const pairs = tf.reshape(rot!, [b, h, t, half, 2]); // [B, H, T, dim/2, 2]
        const [xe, xo] = tf.split(pairs, 2, 4) as [tf.Tensor, tf.Tensor]; // [B, H, T, dim/2, 1] each
        const oe = tf.sub(tf.mul(xe, c), tf.mul(xo, s));
        const oo = tf.add(tf.mul(xo, c), tf.mul(xe, s));
        rotated = tf.reshape(tf.concat([oe, oo], 4), [b, h, t, this.dim]); // [B, H, T, dim]
      }
      // 3) put the pass-through features back
      return pass ? tf.concat([rotated, pass], 3) : rotated; // [B, H, T, D]
    });
  }
}
