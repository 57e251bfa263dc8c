import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AttentionError, type PositionHook, RotaryEmbedding, type RotaryLayout } from './index.js';

/**
 * Independent float64 recipe: RoPE as a 2x2 rotation of each feature pair (a, b) by the angle
 * (position / scaling) / base^(2i / dim), where pair i is (i, i + dim/2) for 'half' and
 * (2i, 2i + 1) for 'interleaved'; features from `dim` on pass through.
 */
function referenceRope(
  x: ArrayLike<number>,
  shape: number[],
  positions: number[],
  opts: { dim: number; base?: number; layout?: RotaryLayout; scaling?: number },
): Float64Array {
  const { dim, base = 10000, layout = 'half', scaling = 1 } = opts;
  const [b, h, t, d] = shape as [number, number, number, number];
  const out = Float64Array.from(x);
  for (let row = 0; row < b * h * t; row++) {
    const pos = positions[row % t]! / scaling;
    for (let i = 0; i < dim / 2; i++) {
      const angle = pos / base ** ((2 * i) / dim);
      const [ia, ib] = layout === 'half' ? [i, i + dim / 2] : [2 * i, 2 * i + 1];
      const xa = x[row * d + ia]!;
      const xb = x[row * d + ib]!;
      out[row * d + ia] = Math.cos(angle) * xa - Math.sin(angle) * xb;
      out[row * d + ib] = Math.sin(angle) * xa + Math.cos(angle) * xb;
    }
  }
  return out;
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const FORWARD = { rtol: 1e-5, atol: 1e-6 };
const LAYOUTS = ['half', 'interleaved'] as const;

/** q · k scores [B, H, Tq, Tk]. */
const scores = (q: tf.Tensor, k: tf.Tensor) => tf.matMul(q, k, false, true);

describeEachBackend('RotaryEmbedding', () => {
  it('golden values by hand: the unit vector [1, 0] at position p becomes [cos p, sin p]', () => {
    for (const layout of LAYOUTS) {
      const rope = new RotaryEmbedding({ dim: 2, layout });
      const x = tf.tensor4d([1, 0, 1, 0, 1, 0], [1, 1, 3, 2]);
      const y = rope.apply(x, 2); // positions 2, 3, 4; the only frequency is base^0 = 1
      expectTensorsClose(
        y,
        [2, 3, 4].flatMap((p) => [Math.cos(p), Math.sin(p)]),
        FORWARD,
      );
      tf.dispose([x, y]);
    }
  });

  for (const layout of LAYOUTS) {
    it(`${layout}: matches the float64 rotation for offsets, bases, scaling and partial rotary`, () => {
      for (const [shape, dim, offset, base, scaling] of [
        [[2, 3, 5, 8], 8, 0, 10000, 1],
        [[1, 2, 4, 16], 16, 37, 10000, 1],
        [[1, 2, 6, 12], 8, 5, 500, 1], // the last 4 features pass through
        [[2, 1, 3, 8], 8, 4090, 10000, 4], // linear position scaling
        [[1, 1, 2, 8], 8, 100000, 10000, 1], // float64 angles keep far positions accurate
      ] as const) {
        const rope = new RotaryEmbedding({ dim, base, layout, scaling });
        const x = randomTensor([...shape], 11);
        const y = rope.apply(x, offset);
        expect(y.shape).toEqual(shape);
        const positions = range(shape[2], offset);
        const expected = referenceRope(x.dataSync(), [...shape], positions, { dim, base, layout, scaling });
        expectTensorsClose(y, expected, { ...FORWARD, label: `${layout} ${shape} dim ${dim} offset ${offset}` });
        tf.dispose([x, y]);
      }
    });

    it(`${layout}: after RoPE, q·k depends only on the position difference`, () => {
      const rope = new RotaryEmbedding({ dim: 16, layout });
      const q = randomTensor([2, 2, 6, 16], 21);
      const k = randomTensor([2, 2, 6, 16], 22);
      const base = scores(rope.apply(q), rope.apply(k));
      for (const shift of [1, 7, 1000]) {
        const shifted = scores(rope.apply(q, shift), rope.apply(k, shift));
        expectTensorsClose(shifted, base, { rtol: 0, atol: 1e-5, label: `shift ${shift}` });
        shifted.dispose();
      }
      // Arbitrary query and key positions, shifted by the same amount, with explicit positions.
      const qPos = [0, 5, 2, 9, 3, 14];
      const kPos = [7, 1, 1, 0, 12, 4];
      const explicit = scores(rope.applyAt(q, qPos), rope.applyAt(k, kPos));
      const moved = scores(
        rope.applyAt(
          q,
          qPos.map((p) => p + 123),
        ),
        rope.applyAt(
          k,
          kPos.map((p) => p + 123),
        ),
      );
      expectTensorsClose(moved, explicit, { rtol: 0, atol: 1e-5, label: 'explicit positions' });
      tf.dispose([q, k, base, explicit, moved]);
    });

    it(`${layout}: applied token by token with offsets equals applied to the whole sequence`, () => {
      const rope = new RotaryEmbedding({ dim: 8, layout });
      const x = randomTensor([2, 3, 7, 10], 31);
      for (const start of [0, 5]) {
        const whole = rope.apply(x, start);
        const steps = range(7).map((t) => rope.apply(tf.slice(x, [0, 0, t, 0], [2, 3, 1, 10]), start + t));
        const joined = tf.concat(steps, 2);
        expectTensorsClose(joined, whole, { rtol: 0, atol: 1e-7, label: `start ${start}` });
        // Chunks of uneven size, as a cache that prefills and then decodes.
        const chunks = [tf.slice(x, [0, 0, 0, 0], [2, 3, 4, 10]), tf.slice(x, [0, 0, 4, 0], [2, 3, 3, 10])];
        const chunked = tf.concat([rope.apply(chunks[0]!, start), rope.apply(chunks[1]!, start + 4)], 2);
        expectTensorsClose(chunked, whole, { rtol: 0, atol: 1e-7, label: `chunks, start ${start}` });
        tf.dispose([whole, ...steps, joined, ...chunks, chunked]);
      }
      x.dispose();
    });

    it(`${layout}: its gradient is the inverse rotation (RoPE is orthogonal)`, () => {
      const rope = new RotaryEmbedding({ dim: 8, layout });
      const x = randomTensor([1, 2, 5, 12], 41);
      const g = randomTensor([1, 2, 5, 12], 42);
      const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(rope.apply(v, 3), g)))(x);
      const inverse = rope.applyAt(
        g,
        range(5, 3).map((p) => -p),
      );
      expectTensorsClose(dx, inverse, FORWARD);
      tf.dispose([x, g, dx, inverse]);
    });
  }

  it('applyAt with positions offset … offset+T-1, as an array or a tensor, equals apply(x, offset)', () => {
    const rope = new RotaryEmbedding({ dim: 8, layout: 'interleaved', base: 1000 });
    const x = randomTensor([1, 2, 4, 8], 51);
    const viaOffset = rope.apply(x, 6);
    const viaArray = rope.applyAt(x, [6, 7, 8, 9]);
    const positions = tf.tensor1d([6, 7, 8, 9], 'int32');
    const viaTensor = rope.applyAt(x, positions);
    expectTensorsClose(viaArray, viaOffset, { rtol: 0, atol: 0 });
    expectTensorsClose(viaTensor, viaOffset, { rtol: 0, atol: 0 });
    tf.dispose([x, viaOffset, viaArray, positions, viaTensor]);
  });

  it('plugs in as a PositionHook and round-trips its config', () => {
    const hook: PositionHook = new RotaryEmbedding({ dim: 4, layout: 'interleaved', scaling: 2 });
    const rope = hook as RotaryEmbedding;
    expect(rope.getConfig()).toEqual({ dim: 4, base: 10000, layout: 'interleaved', scaling: 2 });
    const copy = RotaryEmbedding.fromConfig(JSON.parse(JSON.stringify(rope.getConfig())));
    const x = randomTensor([1, 1, 3, 4], 61);
    const a = hook.apply(x, 2);
    const b = copy.apply(x, 2);
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([x, a, b]);
  });

  it('does not leak', async () => {
    const x = randomTensor([1, 2, 3, 12], 71);
    const positions = tf.tensor1d([4, 2, 0]);
    for (const layout of LAYOUTS) {
      const rope = new RotaryEmbedding({ dim: 8, layout });
      await expectNoLeak(() => rope.apply(x, 3));
      await expectNoLeak(() => rope.applyAt(x, positions));
    }
    tf.dispose([x, positions]);
  });

  it('rejects bad inputs and positions with a message, leaking nothing', () => {
    const rope = new RotaryEmbedding({ dim: 8 });
    const x = tf.zeros([1, 2, 3, 8]);
    const x3 = tf.zeros([2, 3, 8]);
    const narrow = tf.zeros([1, 2, 3, 6]);
    const xi = tf.zeros([1, 2, 3, 8], 'int32');
    const pos2d = tf.zeros([1, 3]) as unknown as tf.Tensor1D;
    expectThrowsWithoutLeak(() => rope.apply(x3), /RotaryEmbedding.apply: x must be rank 4 \[B, H, T, D\], but got x \[2,3,8\]/);
    expectThrowsWithoutLeak(() => rope.apply(narrow), /RotaryEmbedding.apply: x's last dimension must be at least the rotary dim 8, but got x \[1,2,3,6\]/);
    expectThrowsWithoutLeak(() => rope.apply(xi), /RotaryEmbedding.apply: x must be float32, but got 'int32'/);
    expectThrowsWithoutLeak(() => rope.apply(x, -1), /RotaryEmbedding.apply: offset must be a non-negative integer, but got -1/);
    expectThrowsWithoutLeak(
      () => rope.applyAt(x, [0, 1]),
      /RotaryEmbedding.applyAt: positions must be \[T\] for x \[B, H, T, D\], but got positions \[2\] and x \[1,2,3,8\]/,
    );
    expectThrowsWithoutLeak(
      () => rope.applyAt(x, pos2d),
      /RotaryEmbedding.applyAt: positions must be \[T\] for x \[B, H, T, D\], but got positions \[1,3\] and x \[1,2,3,8\]/,
    );
    const err = expectThrowsWithoutLeak(() => rope.applyAt(x, [0, Number.NaN, 2]), /RotaryEmbedding.applyAt: positions must be finite numbers, but got NaN/);
    expect(err).toBeInstanceOf(AttentionError);
    tf.dispose([x, x3, narrow, xi, pos2d]);
  });
});

describe('RotaryEmbedding options', () => {
  it('rejects bad options with a message', () => {
    expect(() => new RotaryEmbedding({ dim: 7 })).toThrow(/RotaryEmbedding: dim must be even, but got 7/);
    expect(() => new RotaryEmbedding({ dim: 0 })).toThrow(/RotaryEmbedding: dim must be a positive integer, but got 0/);
    expect(() => new RotaryEmbedding({ dim: 8, base: -3 })).toThrow(/RotaryEmbedding: base must be a positive finite number, but got -3/);
    expect(() => new RotaryEmbedding({ dim: 8, layout: 'neox' as RotaryLayout })).toThrow(
      /RotaryEmbedding: layout must be one of half, interleaved, but got 'neox'/,
    );
    expect(() => new RotaryEmbedding({ dim: 8, scaling: 0 })).toThrow(/RotaryEmbedding: scaling must be a positive finite number, but got 0/);
  });
});
