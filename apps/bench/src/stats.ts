/** Statistics of timed samples and the FLOP counts behind GFLOP/s. */
import type { Mode, Shape } from './types.js';

export interface SampleStats {
  median: number;
  min: number;
  max: number;
  n: number;
}

/** Median (mean of the middle two for an even count), min and max; throws on no samples. */
export function summarize(samples: readonly number[]): SampleStats {
  if (samples.length === 0) throw new Error('summarize: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** GFLOP/s of `flops` operations done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / (ms * 1e-3) / 1e9;
}

/**
 * FLOPs of attention with Tq queries over Tk keys: Q·Kᵀ is 2·B·H·Tq·Tk·d, weights·V the same.
 * Dense-equivalent: causal and window masks are not discounted (every path here computes the
 * full score matrix). Softmax and scaling are left out, as is customary.
 */
export function attentionFlops(B: number, H: number, Tq: number, Tk: number, d: number): number {
  return 4 * B * H * Tq * Tk * d;
}

/**
 * FLOPs of one timed run of `mode`. The backward pass is four more products of the same size
 * (dV = Wᵀ·dO, dW = dO·Vᵀ, dQ = dS·K, dK = dSᵀ·Q), so forward+backward is 3× forward. Decode
 * sums its steps: with a cache step t attends 1 query over t keys; without, it recomputes all
 * t queries over t keys.
 */
export function modeFlops(mode: Mode, s: Shape, decodeSteps: number, matmulN: number): number {
  const { B, H, T, d } = s;
  switch (mode) {
    case 'forward':
      return attentionFlops(B, H, T, T, d);
    case 'forward+backward':
      return 3 * attentionFlops(B, H, T, T, d);
    case 'decode-kv-cache':
    case 'decode-no-cache': {
      let total = 0;
      for (let t = T - decodeSteps + 1; t <= T; t++) total += attentionFlops(B, H, mode === 'decode-kv-cache' ? 1 : t, t, d);
      return total;
    }
    case 'matmul':
      return 2 * matmulN ** 3;
  }
}

/** Largest absolute difference between two equally long arrays (NaN counts as Infinity). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = Math.abs(a[i]! - b[i]!);
    if (!(diff <= worst)) worst = Number.isNaN(diff) ? Number.POSITIVE_INFINITY : diff;
  }
  return worst;
}
