import type { AttentionDims, AttentionOptions } from './types.js';

/**
 * The causal / window band of a call: query `i`, aligned at `p = i + offset`, may attend keys
 * `p - left <= j <= p + right` (ANDed with the mask). `offset = Tk - Tq` (bottom-right).
 */
export interface Band {
  left: number;
  right: number;
  offset: number;
}

/**
 * The band of `causal` and `window`, shared by the chunked path and the fused kernels' attrs.
 * An unbounded side is written one way, as `Tq + Tk`: an integer (what the kernels take) that
 * covers every key, since the aligned positions `p` lie in `[Tk - Tq, Tk - 1]`.
 */
export function bandOf(options: Pick<AttentionOptions, 'causal' | 'window'>, { Tq, Tk }: Pick<AttentionDims, 'Tq' | 'Tk'>): Band {
  const unbounded = Tq + Tk;
  const { window, causal = false } = options;
  const windowRight = window ? Math.min(window.right ?? 0, unbounded) : unbounded;
  return {
    left: window ? Math.min(window.left, unbounded) : unbounded,
    right: causal ? 0 : windowRight,
    offset: Tk - Tq,
  };
}
