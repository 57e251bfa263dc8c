import { expectThrowsWithoutLeak, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type AttentionOptions, AttentionError, attentionWeights, attentionWithWeights, scaledDotProductAttention } from './index.js';

type Inputs = { q: tf.Tensor; k: tf.Tensor; v: tf.Tensor; extra: tf.Tensor[] };

const q = () => tf.zeros([2, 4, 8, 16]);
const kv = () => tf.zeros([2, 4, 8, 16]);

/** Each case: inputs made before the call, options, and the exact message. */
const cases: Array<[string, () => Inputs, (i: Inputs) => AttentionOptions, string]> = [
  [
    'query of rank 3',
    () => ({ q: tf.zeros([2, 8, 16]), k: kv(), v: kv(), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: query must be a rank-4 tensor [B, H, T, D], but got query [2,8,16]',
  ],
  [
    'key of rank 5',
    () => ({ q: q(), k: tf.zeros([1, 2, 4, 8, 16]), v: kv(), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: key must be a rank-4 tensor [B, H, T, D], but got key [1,2,4,8,16]',
  ],
  [
    'value of rank 2',
    () => ({ q: q(), k: kv(), v: tf.zeros([8, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: value must be a rank-4 tensor [B, H, T, D], but got value [8,16]',
  ],
  [
    'int32 query',
    () => ({ q: tf.zeros([2, 4, 8, 16], 'int32'), k: kv(), v: kv(), extra: [] }),
    () => ({}),
    "scaledDotProductAttention: query must be float32, but got 'int32'",
  ],
  [
    'empty key',
    () => ({ q: q(), k: tf.zeros([2, 4, 0, 16]), v: tf.zeros([2, 4, 0, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: key must not be empty, but got key [2,4,0,16]',
  ],
  [
    'batch mismatch',
    () => ({ q: q(), k: tf.zeros([3, 4, 8, 16]), v: kv(), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: query, key and value batch sizes must match, but got query [2,4,8,16], key [3,4,8,16] and value [2,4,8,16]',
  ],
  [
    'value batch mismatch',
    () => ({ q: q(), k: kv(), v: tf.zeros([1, 4, 8, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: query, key and value batch sizes must match, but got query [2,4,8,16], key [2,4,8,16] and value [1,4,8,16]',
  ],
  [
    'head dim mismatch',
    () => ({ q: q(), k: tf.zeros([2, 4, 8, 12]), v: kv(), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: query and key head dims must match, but got query [2,4,8,16] and key [2,4,8,12]',
  ],
  [
    'key/value length mismatch',
    () => ({ q: q(), k: kv(), v: tf.zeros([2, 4, 9, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: key and value lengths must match, but got key [2,4,8,16] and value [2,4,9,16]',
  ],
  [
    'key/value heads mismatch',
    () => ({ q: q(), k: kv(), v: tf.zeros([2, 2, 8, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: key and value head counts must match, but got key [2,4,8,16] and value [2,2,8,16]',
  ],
  [
    'GQA heads not dividing',
    () => ({ q: q(), k: tf.zeros([2, 3, 8, 16]), v: tf.zeros([2, 3, 8, 16]), extra: [] }),
    () => ({}),
    'scaledDotProductAttention: query heads (4) must be a multiple of key/value heads (3), but got query [2,4,8,16] and key [2,3,8,16]',
  ],
  [
    'float mask',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.ones([8, 8])] }),
    (i) => ({ mask: i.extra[0]! }),
    "scaledDotProductAttention: mask must be a bool tensor (true = attend; use bias for additive masks), but got 'float32'",
  ],
  [
    'mask not broadcastable',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.ones([8, 9], 'bool')] }),
    (i) => ({ mask: i.extra[0]! }),
    'scaledDotProductAttention: mask must broadcast to [B, Hq, Tq, Tk] = [2,4,8,8], but got mask [8,9]',
  ],
  [
    'mask of rank 5',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.ones([1, 2, 4, 8, 8], 'bool')] }),
    (i) => ({ mask: i.extra[0]! }),
    'scaledDotProductAttention: mask must broadcast to [B, Hq, Tq, Tk] = [2,4,8,8], but got mask [1,2,4,8,8]',
  ],
  [
    'mask larger than target',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.ones([2, 4, 16, 8], 'bool')] }),
    (i) => ({ mask: i.extra[0]! }),
    'scaledDotProductAttention: mask must broadcast to [B, Hq, Tq, Tk] = [2,4,8,8], but got mask [2,4,16,8]',
  ],
  [
    'bool bias',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.ones([8, 8], 'bool')] }),
    (i) => ({ bias: i.extra[0]! }),
    "scaledDotProductAttention: bias must be float32, but got 'bool'",
  ],
  [
    'bias per wrong head count',
    () => ({ q: q(), k: kv(), v: kv(), extra: [tf.zeros([1, 3, 8, 8])] }),
    (i) => ({ bias: i.extra[0]! }),
    'scaledDotProductAttention: bias must broadcast to [B, Hq, Tq, Tk] = [2,4,8,8], but got bias [1,3,8,8]',
  ],
  [
    'disposed mask',
    () => {
      const m = tf.ones([8, 8], 'bool');
      m.dispose();
      return { q: q(), k: kv(), v: kv(), extra: [m] };
    },
    (i) => ({ mask: i.extra[0]! }),
    'scaledDotProductAttention: mask has been disposed, but got mask [8,8]',
  ],
  [
    'mask not a tensor',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ mask: [[true]] as unknown as tf.Tensor }),
    "scaledDotProductAttention: mask must be a tf.Tensor, but got 'object'",
  ],
  [
    'NaN scale',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ scale: Number.NaN }),
    'scaledDotProductAttention: scale must be a finite number, but got NaN',
  ],
  [
    'dropout of 1',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ dropout: 1 }),
    'scaledDotProductAttention: dropout must be a number in [0, 1), but got 1',
  ],
  [
    'negative dropout',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ dropout: -0.1 }),
    'scaledDotProductAttention: dropout must be a number in [0, 1), but got -0.1',
  ],
  [
    'string causal',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ causal: 'yes' as unknown as boolean }),
    "scaledDotProductAttention: causal must be a boolean, but got 'yes'",
  ],
  [
    'infinite seed',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ seed: Number.POSITIVE_INFINITY }),
    'scaledDotProductAttention: seed must be a finite number, but got Infinity',
  ],
  [
    'negative window',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ window: { left: -2 } }),
    `scaledDotProductAttention: window left and right must be non-negative integers, but got '{"left":-2}'`,
  ],
  [
    'fused without a registered kernel',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ implementation: 'fused' }),
    "scaledDotProductAttention: implementation 'fused' cannot run: no AttnkitFusedAttention kernel registered for backend 'cpu', but got 'fused'",
  ],
  [
    'unknown implementation',
    () => ({ q: q(), k: kv(), v: kv(), extra: [] }),
    () => ({ implementation: 'flash' as 'auto' }),
    "scaledDotProductAttention: implementation must be one of auto, reference, sliced, chunked, fused, but got 'flash'",
  ],
];

describe('bad input', () => {
  beforeAll(() => useBackend('cpu'));

  it.each(cases)('%s throws AttentionError naming the op and shapes, leaking nothing', (_, make, options, message) => {
    const inputs = make();
    const err = expectThrowsWithoutLeak(() => scaledDotProductAttention(inputs.q, inputs.k, inputs.v, options(inputs)), message);
    expect(err.message).toBe(message);
    expect(err).toBeInstanceOf(AttentionError);
    expect((err as AttentionError).op).toBe('scaledDotProductAttention');
    tf.dispose([inputs.q, inputs.k, inputs.v, ...inputs.extra]);
  });

  it('carries the shapes on the error object', () => {
    const k = tf.zeros([2, 4, 8, 16]);
    const v = tf.zeros([2, 4, 9, 16]);
    const err = expectThrowsWithoutLeak(() => attentionWithWeights(k, k, v), 'attentionWithWeights: key and value lengths') as AttentionError;
    expect(err.shapes).toEqual({ key: [2, 4, 8, 16], value: [2, 4, 9, 16] });
    tf.dispose([k, v]);
  });

  it('attentionWeights validates without a value', () => {
    const a = tf.zeros([1, 2, 3, 4]);
    const b = tf.zeros([1, 2, 3, 5]);
    expectThrowsWithoutLeak(() => attentionWeights(a, b), 'attentionWeights: query and key head dims must match, but got query [1,2,3,4] and key [1,2,3,5]');
    tf.dispose([a, b]);
  });
});
