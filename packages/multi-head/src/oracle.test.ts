import { describeEachBackend, expectTensorsClose, f64, randomMask, toF64 } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { MultiHeadAttention, type MultiHeadAttentionArgs, fromTorchMultiheadAttention } from './index.js';
import { input, mhaOracle, randomTorchWeights, rotaryF64, rotaryHook, seedWeights, tensorOf, torchMhaF64 } from './testing/mha-oracle.js';

// float32 layer against float64 references.
const TOL = { rtol: 1e-4, atol: 1e-5 };

interface LayerCase {
  name: string;
  args: Omit<MultiHeadAttentionArgs, 'name'>;
  B: number;
  Tq: number;
  Tk: number;
  dq: number;
  dv: number;
  /** Separate key input with this last dim. */
  dk?: number;
  /** Shape of a random Keras mask, broadcastable to [B, Tq, Tk]. */
  mask?: number[];
  causal?: boolean;
  rotary?: boolean;
  /** value = query (same tensor). */
  self?: boolean;
}

const CASES: LayerCase[] = [
  { name: 'self-attention', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 5, Tk: 5, dq: 6, dv: 6, self: true },
  { name: 'cross-attention, Tq != Tk, other value dim', args: { numHeads: 3, keyDim: 2 }, B: 2, Tq: 3, Tk: 7, dq: 5, dv: 4 },
  { name: 'separate key input', args: { numHeads: 2, keyDim: 3 }, B: 1, Tq: 4, Tk: 6, dq: 4, dv: 5, dk: 7 },
  { name: 'valueDim != keyDim, no bias', args: { numHeads: 2, keyDim: 3, valueDim: 5, useBias: false }, B: 2, Tq: 4, Tk: 4, dq: 6, dv: 6 },
  { name: 'outputShape number', args: { numHeads: 2, keyDim: 2, outputShape: 3 }, B: 1, Tq: 4, Tk: 5, dq: 6, dv: 6 },
  { name: 'outputShape [2, 3]', args: { numHeads: 2, keyDim: 2, outputShape: [2, 3] }, B: 2, Tq: 3, Tk: 3, dq: 4, dv: 4 },
  { name: 'Keras mask [B, Tq, Tk]', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 5, Tk: 6, dq: 6, dv: 6, mask: [2, 5, 6] },
  { name: 'padding mask [B, 1, Tk]', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 5, Tk: 6, dq: 6, dv: 6, mask: [2, 1, 6] },
  { name: 'causal self-attention', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 6, Tk: 6, dq: 6, dv: 6, causal: true, self: true },
  { name: 'causal, Tq < Tk (bottom-right)', args: { numHeads: 2, keyDim: 4 }, B: 1, Tq: 3, Tk: 7, dq: 6, dv: 6, causal: true },
  { name: 'causal + mask', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 5, Tk: 5, dq: 6, dv: 6, mask: [2, 5, 5], causal: true },
  { name: 'GQA 4 query heads / 2 kv heads', args: { numHeads: 4, keyDim: 3, numKeyValueHeads: 2 }, B: 2, Tq: 5, Tk: 6, dq: 6, dv: 5 },
  { name: 'MQA 3 query heads / 1 kv head, causal', args: { numHeads: 3, keyDim: 4, numKeyValueHeads: 1 }, B: 1, Tq: 6, Tk: 6, dq: 5, dv: 5, causal: true },
  { name: 'rotary hook', args: { numHeads: 2, keyDim: 4 }, B: 2, Tq: 5, Tk: 5, dq: 6, dv: 6, causal: true, rotary: true, self: true },
  {
    name: 'rotary hook + GQA, sliced',
    args: { numHeads: 4, keyDim: 6, numKeyValueHeads: 2, implementation: 'sliced' },
    B: 1,
    Tq: 4,
    Tk: 4,
    dq: 5,
    dv: 5,
    rotary: true,
  },
];

function runCase(c: LayerCase, seed: number) {
  const query = input([c.B, c.Tq, c.dq], seed);
  const value = c.self ? query : input([c.B, c.Tk, c.dv], seed + 1);
  const key = c.dk ? input([c.B, c.Tk, c.dk], seed + 2) : null;
  const mask = c.mask ? randomMask(c.mask, seed + 3, 0.7) : null;
  const layer = new MultiHeadAttention({
    ...c.args,
    ...(c.rotary ? { positionHook: rotaryHook } : {}),
    queryShape: query.t.shape,
    valueShape: value.t.shape,
    keyShape: key?.t.shape ?? null,
  });
  const weights = seedWeights(layer, seed);
  const [out, scores] = layer.call(query.t, {
    value: value.t,
    key: key?.t ?? null,
    attentionMask: mask,
    useCausalMask: c.causal ?? false,
    returnAttentionScores: true,
  }) as tf.Tensor[];
  const expected = mhaOracle({
    query: query.f,
    value: value.f,
    ...(key ? { key: key.f } : {}),
    weights,
    mask: mask ? toF64(mask) : null,
    causal: c.causal ?? false,
    hook: c.rotary ? rotaryF64 : null,
  });
  expect(out!.shape).toEqual(expected.output.shape);
  expectTensorsClose(out!, expected.output.data, { ...TOL, label: `${c.name} output` });
  expect(scores!.shape).toEqual(expected.scores.shape);
  expectTensorsClose(scores!, expected.scores.data, { ...TOL, label: `${c.name} scores` });
  tf.dispose([out!, scores!, query.t, c.self ? null : value.t, key?.t, mask].filter((t): t is tf.Tensor => t != null));
  layer.dispose();
}

describeEachBackend('MultiHeadAttention vs projections + the float64 attention oracle', () => {
  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', (_, c, i) => runCase(c, 100 + i));

  it('a fully masked query row gives the output bias only (zero attention), never NaN', () => {
    const x = input([1, 3, 4], 7);
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 2, queryShape: [1, 3, 4], valueShape: [1, 3, 4] });
    const weights = seedWeights(layer, 7);
    const mask = tf.tensor([1, 1, 0, 0, 0, 0, 1, 0, 1], [1, 3, 3], 'bool');
    const out = layer.call(x.t, { value: x.t, attentionMask: mask }) as tf.Tensor;
    const row1 = Array.from(out.dataSync().slice(4, 8));
    expectTensorsClose(row1, weights.outputBias!.data, TOL);
    tf.dispose([out, mask, x.t]);
    layer.dispose();
  });

  it('the attention mask may be any numeric dtype (nonzero = attend)', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    const x = input([2, 4, 4], 9);
    const bool = randomMask([2, 4, 4], 10);
    const asFloat = tf.cast(bool, 'float32');
    const a = layer.apply(x.t, { value: x.t, attentionMask: bool }) as tf.Tensor;
    const b = layer.apply(x.t, { value: x.t, attentionMask: asFloat }) as tf.Tensor;
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([a, b, bool, asFloat, x.t]);
    layer.dispose();
  });
});

describeEachBackend('fromTorchMultiheadAttention vs PyTorch’s documented formula (float64)', () => {
  const torchCases = [
    { name: 'packed in_proj_weight, bias', E: 6, N: 2, kdim: 6, vdim: 6, bias: true, Tq: 4, Tk: 5 },
    { name: 'packed in_proj_weight, no bias', E: 8, N: 4, kdim: 8, vdim: 8, bias: false, Tq: 3, Tk: 3 },
    { name: 'separate q/k/v projections (kdim 5, vdim 3)', E: 6, N: 3, kdim: 5, vdim: 3, bias: true, Tq: 4, Tk: 6 },
  ];
  it.each(torchCases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const w = randomTorchWeights(c.E, c.kdim, c.vdim, c.bias, c.E + c.N);
    const packed = c.kdim === c.E && c.vdim === c.E;
    const cat = (xs: Array<typeof w.Wq>) =>
      f64(
        xs.flatMap((x) => Array.from(x.data)),
        [xs.reduce((a, x) => a + x.shape[0]!, 0), ...xs[0]!.shape.slice(1)],
      );
    const state = {
      ...(packed
        ? { in_proj_weight: tensorOf(cat([w.Wq, w.Wk, w.Wv])) }
        : { q_proj_weight: tensorOf(w.Wq), k_proj_weight: tensorOf(w.Wk), v_proj_weight: tensorOf(w.Wv) }),
      ...(c.bias ? { in_proj_bias: tensorOf(cat([w.bq!, w.bk!, w.bv!])), 'out_proj.bias': tensorOf(w.bo!) } : {}),
      'out_proj.weight': tensorOf(w.Wo),
    };
    const layer = fromTorchMultiheadAttention(state, { numHeads: c.N });
    const q = input([2, c.Tq, c.E], 1);
    const k = input([2, c.Tk, c.kdim], 2);
    const v = input([2, c.Tk, c.vdim], 3);
    const out = layer.apply(q.t, { value: v.t, key: k.t }) as tf.Tensor;
    const expected = torchMhaF64(q.f, k.f, v.f, w, c.N);
    expectTensorsClose(out, expected.data, { ...TOL, label: c.name });
    expect(out.shape).toEqual(expected.shape);
    tf.dispose([out, q.t, k.t, v.t, ...Object.values(state)]);
    layer.dispose();
  });

  it('an inverted PyTorch attn_mask gives the same output as PyTorch with that mask', () => {
    const w = randomTorchWeights(4, 4, 4, true, 5);
    const cat = (xs: Array<typeof w.Wq>) =>
      f64(
        xs.flatMap((x) => Array.from(x.data)),
        [xs.reduce((a, x) => a + x.shape[0]!, 0), ...xs[0]!.shape.slice(1)],
      );
    const state = {
      in_proj_weight: tensorOf(cat([w.Wq, w.Wk, w.Wv])),
      in_proj_bias: tensorOf(cat([w.bq!, w.bk!, w.bv!])),
      'out_proj.weight': tensorOf(w.Wo),
      'out_proj.bias': tensorOf(w.bo!),
    };
    const layer = fromTorchMultiheadAttention(state, { numHeads: 2 });
    const x = input([1, 4, 4], 4);
    // PyTorch bool attn_mask: true = NOT allowed. Keras/attnkit: true = attend.
    const torchMask = [0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0];
    const attend = torchMask.map((m) => 1 - m);
    const mask = tf.tensor(attend, [4, 4], 'bool');
    const out = layer.apply(x.t, { value: x.t, attentionMask: mask }) as tf.Tensor;
    const expected = torchMhaF64(x.f, x.f, x.f, w, 2, f64(attend, [4, 4]));
    expectTensorsClose(out, expected.data, TOL);
    tf.dispose([out, x.t, mask, ...Object.values(state)]);
    layer.dispose();
  });
});
