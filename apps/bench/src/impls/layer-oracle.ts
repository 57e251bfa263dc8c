/**
 * The float64 reference of a multi-head attention layer on self-attention: x [B, T, M] is
 * projected with the layer's own weights (query [M, H, d], key and value [M, Hkv, d], biases
 * [heads, d]), attended by the @attnkit/test-utils oracle, and projected back (output kernel
 * [H, d, M], bias [M]). Shared by every layer-level implementation (tfjs-layers', attnkit's).
 */
import { attentionOracle } from '@attnkit/test-utils/oracle';
import { attentionFlops } from '../stats.js';
import type { BenchConfig } from '../types.js';

/** query, key, value kernels and biases, then the output kernel and bias, in that order (Keras' weight order). */
export type LayerWeights = [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];

/** y[b, t, :] = x[b, t, :]·W + bias for a kernel [M, heads·d] (flattened), in float64, as [B, heads, T, d]. */
export function project(x: Float32Array, kernel: Float64Array, bias: Float64Array, B: number, T: number, M: number, heads: number, d: number) {
  const out = new Float64Array(B * heads * T * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let hd = 0; hd < heads * d; hd++) {
        let acc = bias[hd]!;
        for (let m = 0; m < M; m++) acc += x[(b * T + t) * M + m]! * kernel[m * heads * d + hd]!;
        const h = Math.floor(hd / d);
        out[((b * heads + h) * T + t) * d + (hd % d)] = acc; // [B, heads, T, d]
      }
  return out;
}

/** The layer's output [B, T, M] in float64 for input x [B, T, M = H·d] (self-attention). */
export function layerOracle(
  x: Float32Array,
  weights: LayerWeights,
  s: { B: number; H: number; Hkv: number; T: number; d: number; causal: boolean },
): Float64Array {
  const { B, H, Hkv, T, d, causal } = s;
  const M = H * d;
  const [wq, bq, wk, bk, wv, bv, wo, bo] = weights;
  const { output } = attentionOracle({
    query: { data: project(x, wq, bq, B, T, M, H, d), shape: [B, H, T, d] },
    key: { data: project(x, wk, bk, B, T, M, Hkv, d), shape: [B, Hkv, T, d] },
    value: { data: project(x, wv, bv, B, T, M, Hkv, d), shape: [B, Hkv, T, d] },
    causal,
  });
  const y = new Float64Array(B * T * M); // [B, T, M]
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let m = 0; m < M; m++) {
        let acc = bo[m]!;
        for (let h = 0; h < H; h++) for (let e = 0; e < d; e++) acc += output.data[((b * H + h) * T + t) * d + e]! * wo[(h * d + e) * M + m]!;
        y[(b * T + t) * M + m] = acc;
      }
  return y;
}

/**
 * FLOPs of one forward of a self-attention layer on x [B, T, M = H·d]: attention plus the four
 * projections (query and output M→M, key and value M→Hkv·d). The backward pass is two more
 * products per product (gradients of inputs and of weights), so forward+backward is 3×.
 */
export function layerFlops(c: Pick<BenchConfig, 'B' | 'H' | 'Hkv' | 'T' | 'd' | 'mode'>): number {
  const M = c.H * c.d;
  const projections = 2 * c.B * c.T * M * (2 * M + 2 * c.Hkv * c.d);
  const forward = attentionFlops(c.B, c.H, c.T, c.T, c.d) + projections;
  return c.mode === 'forward+backward' ? 3 * forward : forward;
}
