import { describe, expect, it } from 'vitest';
import { attentionFlops, gflops, maxAbsDiff, modeFlops, summarize } from './stats.js';

const shape = { B: 2, H: 4, Hkv: 4, T: 8, d: 16, causal: false, window: null };

describe('summarize', () => {
  it('takes the middle sample of an odd count and the mean of the middle two of an even count', () => {
    expect(summarize([5, 1, 3])).toEqual({ median: 3, min: 1, max: 5, n: 3 });
    expect(summarize([4, 1, 3, 10])).toEqual({ median: 3.5, min: 1, max: 10, n: 4 });
    expect(summarize([7])).toEqual({ median: 7, min: 7, max: 7, n: 1 });
  });

  it('does not reorder its input and refuses no samples', () => {
    const samples = [3, 1, 2];
    summarize(samples);
    expect(samples).toEqual([3, 1, 2]);
    expect(() => summarize([])).toThrow(/summarize: no samples/);
  });
});

describe('FLOP counts', () => {
  it('counts Q·Kᵀ and weights·V as 2·B·H·Tq·Tk·d each', () => {
    // B=2, H=4, Tq=8, Tk=8, d=16: 2 products × 2·2·4·8·8·16 = 32768
    expect(attentionFlops(2, 4, 8, 8, 16)).toBe(32768);
    expect(modeFlops('forward', shape, 4, 0)).toBe(32768);
    expect(modeFlops('forward+backward', shape, 4, 0)).toBe(3 * 32768);
  });

  it('sums decode steps: one query per step with a cache, the whole prefix without', () => {
    // steps 4 at the end of T=8: t = 5..8; per (Tq, Tk) 4·B·H·d = 512 per query-key pair
    expect(modeFlops('decode-kv-cache', shape, 4, 0)).toBe(512 * (5 + 6 + 7 + 8));
    expect(modeFlops('decode-no-cache', shape, 4, 0)).toBe(512 * (25 + 36 + 49 + 64));
  });

  it('counts an [N, N]·[N, N] matmul as 2·N³', () => {
    expect(modeFlops('matmul', shape, 4, 100)).toBe(2e6);
  });

  it('turns FLOPs and milliseconds into GFLOP/s', () => {
    expect(gflops(2e9, 1000)).toBe(2);
    expect(gflops(5e8, 250)).toBe(2);
  });
});

describe('maxAbsDiff', () => {
  it('finds the largest absolute difference and counts NaN as infinite', () => {
    expect(maxAbsDiff([1, 2, 3], [1, 2.5, 2])).toBe(1);
    expect(maxAbsDiff([0, Number.NaN], [0, 0])).toBe(Number.POSITIVE_INFINITY);
    expect(() => maxAbsDiff([1], [1, 2])).toThrow(/lengths differ \(1 vs 2\)/);
  });
});
