/**
 * The named table of attention cases that every implementation is held to (core's reference
 * and fast paths, chunked, fused kernels), plus a seeded generator of random cases.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { type Numeric, expectTensorsClose } from './close.js';
import { type F64, type OracleInput, attentionOracle, attentionOracleGrad, f64 } from './oracle.js';
import { randomInt, randomValues, seededRandom } from './random.js';

export interface AttentionCase {
  name: string;
  B: number;
  Hq: number;
  Hkv: number;
  Tq: number;
  Tk: number;
  Dk: number;
  Dv: number;
  causal?: boolean;
  window?: { left: number; right?: number };
  scale?: number;
  /** Shape of a random bool mask (true with probability `maskDensity`), or an explicit pattern. */
  mask?: { shape: number[]; density?: number } | { shape: number[]; values: number[] };
  /** Shape of a random additive bias. */
  bias?: number[];
  /** 0/1 per bias entry (row-major over `bias`): 1 sets the entry to -Infinity (an excluded key). */
  biasNegInf?: number[];
  /** Multiplies query and key values (large logits). Default 1. */
  magnitude?: number;
  seed?: number;
}

const base = { B: 1, Hq: 1, Hkv: 1, Tq: 4, Tk: 4, Dk: 8, Dv: 8 };

/** Every option, GQA/MQA, Tq != Tk, causal with padding, fully-masked rows, T = 1. */
export const ATTENTION_CASES: AttentionCase[] = [
  { ...base, name: 'single head' },
  { ...base, name: 'batch and heads', B: 2, Hq: 3, Hkv: 3 },
  { ...base, name: 'Tq < Tk', Tq: 3, Tk: 7 },
  { ...base, name: 'Tq > Tk', Tq: 6, Tk: 2 },
  { ...base, name: 'T = 1', Tq: 1, Tk: 1 },
  { ...base, name: 'one query, many keys (decode step)', Tq: 1, Tk: 9, Hq: 2, Hkv: 2 },
  { ...base, name: 'Dk != Dv', Dk: 5, Dv: 3, Hq: 2, Hkv: 2 },
  { ...base, name: 'Dk = 1', Dk: 1, Dv: 2 },
  { ...base, name: 'custom scale', scale: 0.37 },
  { ...base, name: 'scale 0 (uniform weights)', scale: 0 },
  { ...base, name: 'causal square', Tq: 5, Tk: 5, causal: true, Hq: 2, Hkv: 2 },
  { ...base, name: 'causal Tq < Tk (bottom-right)', Tq: 3, Tk: 6, causal: true },
  { ...base, name: 'causal Tq > Tk (leading rows see nothing)', Tq: 6, Tk: 4, causal: true },
  { ...base, name: 'causal decode step', Tq: 1, Tk: 7, causal: true },
  { ...base, name: 'mask [Tq, Tk]', Tq: 5, Tk: 6, mask: { shape: [5, 6] } },
  { ...base, name: 'mask rank 3 [Hq, Tq, Tk]', Hq: 2, Hkv: 2, mask: { shape: [2, 4, 4] } },
  { ...base, name: 'mask [B, Hq, Tq, Tk]', B: 2, Hq: 2, Hkv: 2, mask: { shape: [2, 2, 4, 4] } },
  { ...base, name: 'padding mask [B, 1, 1, Tk]', B: 2, Tk: 5, mask: { shape: [2, 1, 1, 5], values: [1, 1, 1, 0, 0, 1, 1, 1, 1, 1] } },
  { ...base, name: 'per-head key mask [1, Hq, 1, Tk]', Hq: 3, Hkv: 3, mask: { shape: [1, 3, 1, 4] } },
  {
    ...base,
    name: 'causal with padding',
    B: 2,
    Tq: 5,
    Tk: 5,
    causal: true,
    mask: { shape: [2, 1, 1, 5], values: [1, 1, 1, 0, 0, 1, 1, 1, 1, 0] },
  },
  { ...base, name: 'one fully masked row', Tq: 3, Tk: 3, mask: { shape: [3, 3], values: [1, 0, 1, 0, 0, 0, 1, 1, 0] } },
  { ...base, name: 'everything masked', Tq: 2, Tk: 3, mask: { shape: [2, 3], values: [0, 0, 0, 0, 0, 0] } },
  { ...base, name: 'bias [Tq, Tk]', bias: [4, 4] },
  { ...base, name: 'bias per head [1, Hq, Tq, Tk]', Hq: 2, Hkv: 2, bias: [1, 2, 4, 4] },
  { ...base, name: 'bias [B, Hq, Tq, Tk]', B: 2, Hq: 2, Hkv: 2, bias: [2, 2, 4, 4] },
  { ...base, name: 'bias + mask + causal', Tq: 5, Tk: 5, causal: true, bias: [5, 5], mask: { shape: [5, 5] } },
  // -Infinity in the bias excludes a key as a false mask entry does: zeros, never NaN
  { ...base, name: 'bias -inf: one row fully, one partly', Tq: 3, Tk: 4, bias: [3, 4], biasNegInf: [0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0] },
  { ...base, name: 'bias -inf everywhere', Tq: 2, Tk: 3, bias: [2, 3], biasNegInf: [1, 1, 1, 1, 1, 1] },
  {
    ...base,
    name: 'bias -inf per head + mask + causal + GQA',
    Hq: 4,
    Hkv: 2,
    Tq: 3,
    Tk: 5,
    causal: true,
    mask: { shape: [1, 1, 3, 5], values: [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] },
    bias: [1, 4, 3, 5],
    // head 0: row 2 fully -inf; head 1: the keys row 0 may see (mask and causal) all -inf; head 3: one key
    biasNegInf: [
      ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
      ...[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      ...new Array(15).fill(0),
      ...[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    ],
  },
  {
    ...base,
    name: 'bias -inf key padding [B, 1, 1, Tk], one batch all -inf, Tk past one tile',
    B: 2,
    Tq: 5,
    Tk: 150,
    bias: [2, 1, 1, 150],
    biasNegInf: [...Array.from({ length: 150 }, (_, j) => (j >= 140 ? 1 : 0)), ...new Array(150).fill(1)],
  },
  { ...base, name: 'GQA 4:2', Hq: 4, Hkv: 2 },
  { ...base, name: 'MQA 4:1', Hq: 4, Hkv: 1, Tk: 6 },
  { ...base, name: 'GQA causal Tq < Tk', B: 2, Hq: 6, Hkv: 2, Tq: 3, Tk: 5, causal: true },
  { ...base, name: 'GQA per-head mask', Hq: 4, Hkv: 2, mask: { shape: [1, 4, 4, 4] } },
  { ...base, name: 'GQA per-head bias', Hq: 4, Hkv: 2, bias: [4, 4, 4] },
  { ...base, name: 'sliding window', Tq: 7, Tk: 7, window: { left: 2 } },
  { ...base, name: 'two-sided window Tq < Tk', Tq: 4, Tk: 9, window: { left: 3, right: 1 } },
  { ...base, name: 'window + causal + GQA', Hq: 4, Hkv: 2, Tq: 6, Tk: 6, causal: true, window: { left: 1, right: 2 } },
  { ...base, name: 'large logits', magnitude: 30 },
  { ...base, name: 'odd sizes', B: 3, Hq: 2, Hkv: 2, Tq: 17, Tk: 33, Dk: 7, Dv: 5, causal: true, bias: [17, 33] },
  {
    ...base,
    name: 'everything at once',
    B: 2,
    Hq: 4,
    Hkv: 2,
    Tq: 5,
    Tk: 8,
    Dk: 6,
    Dv: 4,
    causal: true,
    scale: 0.5,
    bias: [1, 4, 5, 8],
    mask: { shape: [2, 1, 1, 8], values: [1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1] },
  },
];

export interface BuiltCase {
  query: tf.Tensor4D;
  key: tf.Tensor4D;
  value: tf.Tensor4D;
  mask: tf.Tensor | null;
  bias: tf.Tensor | null;
  /** The same inputs in float64 for the oracle. */
  oracle: OracleInput;
  /** Upstream gradient [B, Hq, Tq, Dv] used for gradient checks. */
  dOutput: F64;
  dispose(): void;
}

function values(shape: number[], seed: number, magnitude = 1) {
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from(randomValues(size, seed), (x) => x * magnitude);
}

/** Materialises a case as tensors (caller disposes) and float64 oracle inputs. */
export function buildCase(c: AttentionCase): BuiltCase {
  const seed = c.seed ?? 1;
  const mag = c.magnitude ?? 1;
  type Shape4 = [number, number, number, number];
  const qShape: Shape4 = [c.B, c.Hq, c.Tq, c.Dk];
  const kShape: Shape4 = [c.B, c.Hkv, c.Tk, c.Dk];
  const vShape: Shape4 = [c.B, c.Hkv, c.Tk, c.Dv];
  const q = values(qShape, seed * 7 + 1, mag);
  const k = values(kShape, seed * 7 + 2, mag);
  const v = values(vShape, seed * 7 + 3);
  let maskValues: number[] | null = null;
  if (c.mask) {
    if ('values' in c.mask) maskValues = c.mask.values;
    else {
      const rand = seededRandom(seed * 7 + 4);
      const density = c.mask.density ?? 0.7;
      maskValues = Array.from({ length: c.mask.shape.reduce((a, b) => a * b, 1) }, () => (rand() < density ? 1 : 0));
    }
  }
  const biasValues = c.bias ? values(c.bias, seed * 7 + 5, 2) : null;
  if (biasValues && c.biasNegInf) {
    for (const [n, x] of c.biasNegInf.entries()) if (x) biasValues[n] = Number.NEGATIVE_INFINITY;
  }
  const f = (x: number[], shape: number[]) => f64(Float32Array.from(x), shape); // what float32 tensors hold
  const tensors = {
    query: tf.tensor4d(q, qShape, 'float32'),
    key: tf.tensor4d(k, kShape, 'float32'),
    value: tf.tensor4d(v, vShape, 'float32'),
    mask: c.mask && maskValues ? tf.tensor(maskValues, c.mask.shape, 'bool') : null,
    bias: c.bias && biasValues ? tf.tensor(biasValues, c.bias, 'float32') : null,
  };
  return {
    ...tensors,
    oracle: {
      query: f(q, qShape),
      key: f(k, kShape),
      value: f(v, vShape),
      mask: c.mask && maskValues ? f64(maskValues, c.mask.shape) : null,
      bias: c.bias && biasValues ? f(biasValues, c.bias) : null,
      causal: c.causal ?? false,
      window: c.window ?? null,
      ...(c.scale !== undefined ? { scale: c.scale } : {}),
    },
    dOutput: f(values([c.B, c.Hq, c.Tq, c.Dv], seed * 7 + 6), [c.B, c.Hq, c.Tq, c.Dv]),
    dispose: () => tf.dispose(Object.values(tensors).filter((t): t is tf.Tensor => t !== null)),
  };
}

/**
 * A random case from a seed: shapes, GQA/MQA, Tq != Tk, causal, masks of random broadcast
 * shapes, bias, scale. `maxT` bounds the sequence lengths.
 */
export function randomCase(seed: number, maxT = 24): AttentionCase {
  const rand = seededRandom(seed);
  const Hkv = randomInt(rand, 1, 3);
  const group = randomInt(rand, 1, 3);
  const B = randomInt(rand, 1, 2);
  const Hq = Hkv * group;
  const Tq = randomInt(rand, 1, maxT);
  const Tk = rand() < 0.3 ? Tq : randomInt(rand, 1, maxT);
  const c: AttentionCase = {
    name: `random #${seed}`,
    seed,
    B,
    Hq,
    Hkv,
    Tq,
    Tk,
    Dk: randomInt(rand, 1, 16),
    Dv: randomInt(rand, 1, 16),
    causal: rand() < 0.4,
  };
  if (rand() < 0.2) c.scale = 0.05 + rand();
  if (rand() < 0.25) c.window = { left: randomInt(rand, 0, maxT), right: rand() < 0.5 ? 0 : randomInt(rand, 0, 4) };
  const maskShapes = [
    [Tq, Tk],
    [B, 1, 1, Tk],
    [B, Hq, Tq, Tk],
    [1, Hq, 1, Tk],
    [Hq, Tq, Tk],
  ];
  if (rand() < 0.5) c.mask = { shape: maskShapes[randomInt(rand, 0, maskShapes.length - 1)]!, density: 0.5 + 0.5 * rand() };
  const biasShapes = [
    [Tq, Tk],
    [1, Hq, Tq, Tk],
    [B, Hq, Tq, Tk],
  ];
  if (rand() < 0.3) c.bias = biasShapes[randomInt(rand, 0, biasShapes.length - 1)]!;
  return c;
}

/**
 * Tolerances the attention tests share. `same*`: a faster path against the reference path on
 * the same backend (1e-5 relative forward, 1e-4 gradients, as the issues ask). `oracle*`:
 * float32 against the float64 oracle.
 */
export const TOLERANCES = {
  sameForward: { rtol: 1e-5, atol: 1e-6 },
  sameGrad: { rtol: 1e-4, atol: 1e-5 },
  oracleForward: { rtol: 1e-4, atol: 1e-5 },
  oracleGrad: { rtol: 1e-3, atol: 1e-4 },
} as const;

/** Gradient names in the order {@link outputAndGrads} returns them. */
export const GRAD_NAMES = ['dQuery', 'dKey', 'dValue', 'dBias'] as const;

/** The attention options of a case (mask, bias, causal, window, scale), for any implementation. */
export function caseOptions(c: AttentionCase, built: BuiltCase) {
  return {
    mask: built.mask,
    bias: built.bias,
    causal: c.causal ?? false,
    window: c.window ?? null,
    ...(c.scale !== undefined ? { scale: c.scale } : {}),
  };
}

/**
 * Output of `attend` on a built case and the gradients of sum(output · dOutput) with respect to
 * query, key, value (and bias when the case has one). `attend` receives the bias to use.
 */
export function outputAndGrads(
  built: BuiltCase,
  attend: (query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, bias: tf.Tensor | null) => tf.Tensor,
): { output: tf.Tensor; grads: tf.Tensor[] } {
  const dOut = tf.tensor(Float32Array.from(built.dOutput.data), built.dOutput.shape, 'float32');
  const inputs = [built.query, built.key, built.value, ...(built.bias ? [built.bias] : [])];
  const output = attend(built.query, built.key, built.value, built.bias);
  const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) => tf.sum(tf.mul(attend(q, k, v, b ?? null), dOut)))(inputs);
  dOut.dispose();
  return { output, grads };
}

/** An output and its gradients (query, key, value[, bias]), as tensors or read back. */
export interface OutputAndGrads {
  output: Numeric;
  grads: Numeric[];
}

/**
 * Expects `actual` (a fast path's output and gradients on a case) to equal `reference` (the
 * reference path's) within TOLERANCES.sameForward / sameGrad and, when `oracle` is given (the
 * built case), the float64 oracle within TOLERANCES.oracleForward / oracleGrad.
 */
export function expectSameAsReference(label: string, actual: OutputAndGrads, reference: OutputAndGrads, oracle?: Pick<BuiltCase, 'oracle' | 'dOutput'>): void {
  expect(actual.grads.length, `${label} gradient count`).toBe(reference.grads.length);
  expectTensorsClose(actual.output, reference.output, { ...TOLERANCES.sameForward, label: `${label} output` });
  for (const [i, g] of reference.grads.entries()) {
    expectTensorsClose(actual.grads[i]!, g, { ...TOLERANCES.sameGrad, label: `${label} ${GRAD_NAMES[i]}` });
  }
  if (!oracle) return;
  const expected = attentionOracle(oracle.oracle);
  const grads = attentionOracleGrad(oracle.oracle, oracle.dOutput);
  expectTensorsClose(actual.output, expected.output.data, { ...TOLERANCES.oracleForward, label: `${label} output vs oracle` });
  const want = [grads.dQuery, grads.dKey, grads.dValue, grads.dBias];
  for (const [i, g] of actual.grads.entries()) {
    expectTensorsClose(g, want[i]!.data, { ...TOLERANCES.oracleGrad, label: `${label} ${GRAD_NAMES[i]} vs oracle` });
  }
}
