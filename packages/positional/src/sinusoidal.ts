/**
 * The fixed sinusoidal encoding of "Attention Is All You Need" (Vaswani et al., 2017, §3.5):
 *
 *   PE(pos, 2i)   = sin(pos / base^(2i / dim))
 *   PE(pos, 2i+1) = cos(pos / base^(2i / dim))
 *
 * with `base = 10000`. The table is computed in float64 on the CPU and rounded once to float32,
 * so it stays accurate at large positions where a float32 angle would not.
 */
import { AttentionError } from '@attnkit/masking';
import { check, registerAttnkitClass } from '@attnkit/masking/internal';
import * as tfl from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { type LayerArgs, checkBase, checkOffset, checkPositiveInteger, withDefaultName } from './validate.js';

export interface SinusoidalOptions {
  /** Position of the first row (the first token's position when decoding with a cache). Default 0. */
  offset?: number;
  /** Wavelength base. Default 10000, as in the paper. */
  base?: number;
}

/** Float64 table [length * dim], row-major; shared by the function and the layer. */
function sinusoidalTable(length: number, dim: number, offset: number, base: number): Float32Array {
  const out = new Float32Array(length * dim);
  for (let j = 0; j < dim; j++) {
    // Columns 2i and 2i+1 share the frequency base^(-2i/dim).
    const frequency = Math.exp((-Math.log(base) * (j - (j % 2))) / dim);
    for (let t = 0; t < length; t++) {
      const angle = (offset + t) * frequency;
      out[t * dim + j] = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

/**
 * Sinusoidal position encoding `[length, dim]` (float32) for positions `offset … offset+length-1`:
 * `sin` on even feature indices, `cos` on odd ones, pair `i` at frequency `base^(-2i/dim)`.
 * An odd `dim` is allowed; its last column is a `sin`.
 *
 * @param length number of positions, a positive integer.
 * @param dim feature size, a positive integer.
 * @param options `offset` (default 0), `base` (default 10000).
 */
export function sinusoidalEncoding(length: number, dim: number, options: SinusoidalOptions = {}): tf.Tensor2D {
  const op = 'sinusoidalEncoding';
  const { offset = 0, base = 10000 } = options;
  checkPositiveInteger(op, 'length', length);
  checkPositiveInteger(op, 'dim', dim);
  checkOffset(op, offset);
  checkBase(op, base);
  return tf.tensor2d(sinusoidalTable(length, dim, offset, base), [length, dim], 'float32');
}

/** Layer options, plus the usual tfjs layer options (`name`, `inputShape`, …). */
export interface SinusoidalPositionEncodingArgs extends LayerArgs {
  /** Wavelength base. Default 10000. */
  base?: number;
}

/** Call-time options of {@link SinusoidalPositionEncoding}. */
export interface SinusoidalCallKwargs {
  /** Position of the first input token, e.g. the cache length when decoding. Default 0. */
  offset?: number;
}

/**
 * Adds the sinusoidal encoding to `[B, T, d]` inputs: `output = inputs + PE(offset … offset+T-1)`.
 * No weights. Pass `{ offset }` as the second argument of `apply` to encode positions after a cache.
 * Registered for serialization as `attnkit>SinusoidalPositionEncoding`.
 *
 * @example
 * const layer = new SinusoidalPositionEncoding();
 * const y = layer.apply(x, { offset: 5 }) as tf.Tensor; // x [B, T, d] at positions 5 … 5+T-1
 */
export class SinusoidalPositionEncoding extends tfl.layers.Layer {
  static className = 'attnkit>SinusoidalPositionEncoding';
  readonly base: number;

  constructor(args: SinusoidalPositionEncodingArgs = {}) {
    super(withDefaultName(args, 'sinusoidal_position_encoding'));
    const base = args.base ?? 10000;
    checkBase('SinusoidalPositionEncoding', base);
    this.base = base;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: SinusoidalCallKwargs = {}): tf.Tensor {
    const op = 'SinusoidalPositionEncoding';
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const offset = kwargs.offset ?? 0;
    check(x.rank === 3, () => AttentionError.shapes(op, 'inputs must be rank 3 [B, T, d]', { inputs: x.shape }));
    check(x.dtype === 'float32', () => AttentionError.value(op, 'inputs must be float32', x.dtype));
    checkOffset(op, offset);
    const [, length, dim] = x.shape as [number, number, number];
    check(length > 0 && dim > 0, () => AttentionError.shapes(op, 'inputs need at least one token and one feature', { inputs: x.shape }));
    return tf.tidy(() => {
      const table = tf.tensor3d(sinusoidalTable(length, dim, offset, this.base), [1, length, dim], 'float32'); // [1, T, d]
      return tf.add(x, table); // [B, T, d]
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), base: this.base };
  }
}
// 'SinusoidalPositionEncoding': the className models carried before the prefix
registerAttnkitClass(SinusoidalPositionEncoding, 'SinusoidalPositionEncoding');
