/**
 * A plain float64 implementation of scaled dot-product attention, written as loops that read
 * like the math. It shares no code with @attnkit/core, so agreement between the two means
 * something. Shapes follow ARCHITECTURE.md: query [B, Hq, Tq, Dk], key [B, Hkv, Tk, Dk],
 * value [B, Hkv, Tk, Dv], mask (true = attend) and bias broadcastable to [B, Hq, Tq, Tk].
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface F64 {
  data: Float64Array;
  shape: number[];
}

export interface OracleInput {
  query: F64;
  key: F64;
  value: F64;
  mask?: F64 | null;
  bias?: F64 | null;
  causal?: boolean;
  /** Sliding window around the bottom-right-aligned position p = i + Tk - Tq: p - left <= j <= p + right. */
  window?: { left: number; right?: number } | null;
  /** Default 1/sqrt(Dk). */
  scale?: number;
}

/** Reads a tensor into float64 (bool becomes 0/1). */
export function toF64(t: tf.Tensor): F64 {
  return { data: Float64Array.from(t.dataSync() as ArrayLike<number>), shape: [...t.shape] };
}

export function f64(data: ArrayLike<number>, shape: number[]): F64 {
  return { data: Float64Array.from(data), shape };
}

/** Flat offset of [b, h, i, j] in a tensor of `shape` broadcast (right-aligned) to rank 4. */
function broadcastIndex(shape: number[], idx: [number, number, number, number]): number {
  const full = [1, 1, 1, 1];
  for (let d = 0; d < shape.length; d++) full[4 - shape.length + d] = shape[d]!;
  let offset = 0;
  for (let d = 0; d < 4; d++) offset = offset * full[d]! + (full[d] === 1 ? 0 : idx[d]!);
  return offset;
}

function dims(input: OracleInput) {
  const [B, Hq, Tq, Dk] = input.query.shape as [number, number, number, number];
  const [, Hkv, Tk] = input.key.shape as [number, number, number, number];
  const Dv = input.value.shape[3]!;
  return { B, Hq, Hkv, Tq, Tk, Dk, Dv, group: Hq / Hkv };
}

const at4 = (x: F64, a: number, b: number, c: number, d: number) => x.data[((a * x.shape[1]! + b) * x.shape[2]! + c) * x.shape[3]! + d]!;

/**
 * Whether query i of (b, h) may attend key j: inside causal and window, the mask true, and the
 * bias not -Infinity (ARCHITECTURE: a key excluded by a -Infinity bias is a masked key, so a
 * row with nothing left gives zeros, not NaN).
 */
function allowed(input: OracleInput, b: number, h: number, i: number, j: number, Tq: number, Tk: number) {
  const p = i + (Tk - Tq);
  if (input.bias && input.bias.data[broadcastIndex(input.bias.shape, [b, h, i, j])] === Number.NEGATIVE_INFINITY) return false;
  if (input.causal && j > p) return false;
  if (input.window && (j < p - input.window.left || j > p + (input.window.right ?? 0))) return false;
  if (input.mask && input.mask.data[broadcastIndex(input.mask.shape, [b, h, i, j])] === 0) return false;
  return true;
}

/** Forward: output [B, Hq, Tq, Dv] and weights [B, Hq, Tq, Tk]. */
export function attentionOracle(input: OracleInput): { output: F64; weights: F64 } {
  const { B, Hq, Tq, Tk, Dk, Dv, group } = dims(input);
  const scale = input.scale ?? 1 / Math.sqrt(Dk);
  const weights = new Float64Array(B * Hq * Tq * Tk);
  const output = new Float64Array(B * Hq * Tq * Dv);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const logits: number[] = [];
        const ok: boolean[] = [];
        for (let j = 0; j < Tk; j++) {
          let s = 0;
          for (let d = 0; d < Dk; d++) s += at4(input.query, b, h, i, d) * at4(input.key, b, kvh, j, d);
          s *= scale;
          const allow = allowed(input, b, h, i, j, Tq, Tk);
          if (input.bias && allow) s += input.bias.data[broadcastIndex(input.bias.shape, [b, h, i, j])]!;
          logits.push(s);
          ok.push(allow);
        }
        if (!ok.some(Boolean)) continue; // fully masked row: zero weights, zero output
        const max = Math.max(...logits.filter((_, j) => ok[j]));
        const exps = logits.map((s, j) => (ok[j] ? Math.exp(s - max) : 0));
        const sum = exps.reduce((x, y) => x + y, 0);
        const row = ((b * Hq + h) * Tq + i) * Tk;
        for (let j = 0; j < Tk; j++) weights[row + j] = exps[j]! / sum;
        const orow = ((b * Hq + h) * Tq + i) * Dv;
        for (let d = 0; d < Dv; d++) {
          let acc = 0;
          for (let j = 0; j < Tk; j++) acc += weights[row + j]! * at4(input.value, b, kvh, j, d);
          output[orow + d] = acc;
        }
      }
    }
  return { output: { data: output, shape: [B, Hq, Tq, Dv] }, weights: { data: weights, shape: [B, Hq, Tq, Tk] } };
}

export interface OracleGrads {
  dQuery: F64;
  dKey: F64;
  dValue: F64;
  /** Gradient w.r.t. bias, summed down to the bias's own shape. */
  dBias: F64 | null;
}

/**
 * Backward: gradients of sum(output * dOutput) with respect to query, key, value and bias,
 * from the analytic softmax Jacobian: dS = W * (dW - rowsum(dW * W)).
 */
export function attentionOracleGrad(input: OracleInput, dOutput: F64): OracleGrads {
  const { B, Hq, Tq, Tk, Dk, Dv, group } = dims(input);
  const scale = input.scale ?? 1 / Math.sqrt(Dk);
  const W = attentionOracle(input).weights;
  const dQ = new Float64Array(input.query.data.length);
  const dK = new Float64Array(input.key.data.length);
  const dV = new Float64Array(input.value.data.length);
  const dBias = input.bias ? new Float64Array(input.bias.data.length) : null;
  const [, Hkv] = input.key.shape as [number, number];
  const kIdx = (b: number, h: number, j: number, d: number, D: number) => ((b * Hkv + h) * Tk + j) * D + d;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < Tq; i++) {
        const row = ((b * Hq + h) * Tq + i) * Tk;
        const orow = ((b * Hq + h) * Tq + i) * Dv;
        const dW: number[] = [];
        for (let j = 0; j < Tk; j++) {
          let acc = 0;
          for (let d = 0; d < Dv; d++) {
            acc += dOutput.data[orow + d]! * at4(input.value, b, kvh, j, d);
            dV[kIdx(b, kvh, j, d, Dv)]! += W.data[row + j]! * dOutput.data[orow + d]!;
          }
          dW.push(acc);
        }
        let dot = 0;
        for (let j = 0; j < Tk; j++) dot += dW[j]! * W.data[row + j]!;
        for (let j = 0; j < Tk; j++) {
          const dS = W.data[row + j]! * (dW[j]! - dot); // gradient w.r.t. the logit (after scale)
          if (dBias && input.bias) dBias[broadcastIndex(input.bias.shape, [b, h, i, j])]! += dS;
          for (let d = 0; d < Dk; d++) {
            dQ[((b * Hq + h) * Tq + i) * Dk + d]! += dS * scale * at4(input.key, b, kvh, j, d);
            dK[kIdx(b, kvh, j, d, Dk)]! += dS * scale * at4(input.query, b, h, i, d);
          }
        }
      }
    }
  return {
    dQuery: { data: dQ, shape: [...input.query.shape] },
    dKey: { data: dK, shape: [...input.key.shape] },
    dValue: { data: dV, shape: [...input.value.shape] },
    dBias: dBias && input.bias ? { data: dBias, shape: [...input.bias.shape] } : null,
  };
}
