import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak } from '@attnkit/test-utils';
import { describe, expect, it } from 'vitest';
import { AttentionError, alibiBias, alibiSlopes } from './index.js';

/**
 * Independent float64 recipe: the slope rule as the ALiBi authors' reference code writes it
 * (ofirpress/attention_with_linear_biases, `get_slopes`): start = 2^(-2^-(log2(n) - 3)), ratio =
 * start, and for a non-power-of-two n, the power-of-two slopes of the closest power below n
 * followed by every other slope of twice that, truncated.
 */
function referenceSlopes(n: number): number[] {
  const powerOfTwo = (m: number) => {
    const start = 2 ** -(2 ** -(Math.log2(m) - 3));
    const out: number[] = [];
    for (let i = 0; i < m; i++) out.push(start * start ** i);
    return out;
  };
  if (Number.isInteger(Math.log2(n))) return powerOfTwo(n);
  const closest = 2 ** Math.floor(Math.log2(n));
  const rest = referenceSlopes(2 * closest).filter((_, i) => i % 2 === 0);
  return [...powerOfTwo(closest), ...rest.slice(0, n - closest)];
}

/** Float64 bias [H * Tq * Tk]: -slope * |(i + offset) - j|. */
function referenceBias(slopes: number[], tq: number, tk: number, offset: number): Float64Array {
  const out = new Float64Array(slopes.length * tq * tk);
  slopes.forEach((m, h) => {
    for (let i = 0; i < tq; i++) {
      for (let j = 0; j < tk; j++) out[(h * tq + i) * tk + j] = -m * Math.abs(i + offset - j);
    }
  });
  return out;
}

describe('alibiSlopes', () => {
  it('gives 2^-1 … 2^-8 for 8 heads', () => {
    expect(alibiSlopes(8)).toEqual([0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625]);
  });

  it('follows the interpolation rule for 12 heads: 2^-1 … 2^-8, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5', () => {
    // Golden exponents worked out by hand from the paper's rule: the 8 power-of-two slopes,
    // then slopes 0, 2, 4, 6 of the 16-head sequence 2^(-k/2).
    const exponents = [1, 2, 3, 4, 5, 6, 7, 8, 0.5, 1.5, 2.5, 3.5];
    const slopes = alibiSlopes(12);
    expect(slopes).toHaveLength(12);
    slopes.forEach((s, h) => {
      expect(s).toBeCloseTo(2 ** -exponents[h]!, 15);
    });
  });

  it('matches the reference rule for every head count from 1 to 40', () => {
    for (let n = 1; n <= 40; n++) {
      const got = alibiSlopes(n);
      const want = referenceSlopes(n);
      expect(got, `${n} heads`).toHaveLength(n);
      got.forEach((s, h) => {
        expect(Math.abs(s - want[h]!), `${n} heads, head ${h}`).toBeLessThan(1e-15);
      });
    }
    expect(alibiSlopes(1)).toEqual([2 ** -8]);
  });

  it('rejects a head count that is not a positive integer', () => {
    for (const bad of [0, -2, 2.5, Number.NaN]) {
      expect(() => alibiSlopes(bad)).toThrow(/alibiSlopes: numHeads must be a positive integer, but got/);
    }
  });
});

describeEachBackend('alibiBias', () => {
  it('is [1, H, T, T] float32 with -slope * distance, symmetric for keys after the query', () => {
    const bias = alibiBias(4, 5);
    expect(bias.shape).toEqual([1, 4, 5, 5]);
    expect(bias.dtype).toBe('float32');
    expectTensorsClose(bias, referenceBias(referenceSlopes(4), 5, 5, 0), { rtol: 1e-7, atol: 0 });
    // Spot values by hand: head 0 (slope 2^-2 for 4 heads), query 3: keys 0..4 -> -0.75 -0.5 -0.25 0 -0.25.
    expect(Array.from(bias.dataSync().slice(15, 20), (v) => v + 0)).toEqual([-0.75, -0.5, -0.25, 0, -0.25]);
    bias.dispose();
  });

  it('aligns queries bottom-right when decoding with a cache (Tq < Tk)', () => {
    // 2 new queries after 5 cached keys: query i sits at key position i + 5.
    const bias = alibiBias(12, 2, 7);
    expect(bias.shape).toEqual([1, 12, 2, 7]);
    expectTensorsClose(bias, referenceBias(referenceSlopes(12), 2, 7, 5), { rtol: 1e-7, atol: 0 });
    // The last query's own (last) key has zero bias in every head.
    const v = bias.arraySync()[0]!;
    for (const head of v) expect(head[1]![6]! + 0).toBe(0);
    bias.dispose();
  });

  it('the single decoding-step row equals the last row of the full-sequence bias', () => {
    const full = alibiBias(6, 9);
    const step = alibiBias(6, 1, 9);
    const fullRows = full.arraySync()[0]!.map((head) => head[8]!);
    expect(step.arraySync()[0]!.map((head) => head[0]!)).toEqual(fullRows);
    full.dispose();
    step.dispose();
  });

  it('takes an explicit offset over the default alignment', () => {
    const bias = alibiBias(3, 3, 6, { offset: 1 });
    expectTensorsClose(bias, referenceBias(referenceSlopes(3), 3, 6, 1), { rtol: 1e-7, atol: 0 });
    bias.dispose();
  });

  it('does not leak', async () => {
    await expectNoLeak(() => alibiBias(5, 4, 6));
  });

  it('rejects bad sizes and offsets with a message, leaking nothing', () => {
    expectThrowsWithoutLeak(() => alibiBias(0, 4), /alibiBias: numHeads must be a positive integer, but got 0/);
    expectThrowsWithoutLeak(() => alibiBias(4, 0), /alibiBias: queryLength must be a positive integer, but got 0/);
    expectThrowsWithoutLeak(() => alibiBias(4, 3, 2.5), /alibiBias: keyLength must be a positive integer, but got 2.5/);
    const err = expectThrowsWithoutLeak(() => alibiBias(4, 3, 3, { offset: 0.5 }), /alibiBias: offset must be an integer, but got 0.5/);
    expect(err).toBeInstanceOf(AttentionError);
  });
});
