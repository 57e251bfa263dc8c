/**
 * Peer test: the MultiHeadAttention that ships inside @tensorflow/tfjs-layers 4.22 is not
 * exported from the package; it is deep-imported here from its ESM build
 * (dist/layers/nlp/multihead_attention.js) and called through `call`, the only entry that works
 * (its `apply(query, {value})` fails). It uses einsum, so cpu backend only: wasm has no Einsum.
 * It also keeps its weights in four sub-layers that the outer layer does not list (its
 * `weights` is empty), so the weights are copied sub-layer by sub-layer.
 */
import { expectTensorsClose, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention as TfjsMultiHeadAttention } from '@tensorflow/tfjs-layers/dist/layers/nlp/multihead_attention.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { MultiHeadAttention } from './index.js';
import { seedWeights } from './testing/mha-oracle.js';

interface Dense {
  name: string;
  weights: tf.LayerVariable[];
  setWeights(w: tf.Tensor[]): void;
}
interface Peer {
  call(query: tf.Tensor, kwargs: Record<string, unknown>): tf.Tensor;
  callAndReturnAttentionScores(query: tf.Tensor, kwargs: Record<string, unknown>): [tf.Tensor, tf.Tensor];
  _queryDense: Dense;
  _keyDense: Dense;
  _valueDense: Dense;
  _outputDense: Dense;
  weights: tf.LayerVariable[];
}

const PEER_TOL = { rtol: 1e-5, atol: 1e-5 };

interface PeerCase {
  name: string;
  /** Arguments both layers take. */
  args: { numHeads: number; keyDim: number; valueDim?: number; useBias?: boolean; outputShape?: number[] };
  B: number;
  Tq: number;
  Tk: number;
  dq: number;
  dv: number;
  dk?: number;
  self?: boolean;
  mask?: boolean;
  causal?: boolean;
}

const CASES: PeerCase[] = [
  { name: 'self-attention', args: { numHeads: 4, keyDim: 8 }, B: 2, Tq: 10, Tk: 10, dq: 16, dv: 16, self: true },
  { name: 'self-attention, causal', args: { numHeads: 4, keyDim: 8 }, B: 2, Tq: 10, Tk: 10, dq: 16, dv: 16, self: true, causal: true },
  { name: 'self-attention, mask', args: { numHeads: 2, keyDim: 6 }, B: 2, Tq: 9, Tk: 9, dq: 12, dv: 12, self: true, mask: true },
  { name: 'self-attention, causal + mask', args: { numHeads: 2, keyDim: 6 }, B: 2, Tq: 9, Tk: 9, dq: 12, dv: 12, self: true, mask: true, causal: true },
  { name: 'cross-attention', args: { numHeads: 3, keyDim: 5 }, B: 2, Tq: 6, Tk: 11, dq: 10, dv: 7 },
  { name: 'cross-attention, mask', args: { numHeads: 3, keyDim: 5 }, B: 2, Tq: 6, Tk: 11, dq: 10, dv: 7, mask: true },
  { name: 'cross-attention, separate key, mask', args: { numHeads: 2, keyDim: 4 }, B: 1, Tq: 5, Tk: 8, dq: 6, dv: 9, dk: 3, mask: true },
  {
    name: 'valueDim, no bias, outputShape',
    args: { numHeads: 2, keyDim: 4, valueDim: 6, useBias: false, outputShape: [5] },
    B: 2,
    Tq: 7,
    Tk: 7,
    dq: 8,
    dv: 8,
    self: true,
  },
];

/** A random [B, Tq, Tk] mask where every query row keeps at least one key (both layers agree only there). */
function rowSafeMask(B: number, Tq: number, Tk: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const m = tf.greater(randomTensor([B, Tq, Tk], seed, 0, 1), 0.35); // [B, Tq, Tk]
    const first = tf.reshape(tf.oneHot(tf.fill([B * Tq], 0, 'int32'), Tk), [B, Tq, Tk]); // key 0 always visible
    return tf.logicalOr(m, tf.cast(first, 'bool'));
  });
}

describe('MultiHeadAttention vs tfjs-layers’ internal MultiHeadAttention [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('the peer keeps its weights in sub-layers named as Keras, except attentionOutput', () => {
    const peer = new TfjsMultiHeadAttention({ numHeads: 2, keyDim: 3 }) as unknown as Peer;
    const x = randomTensor([1, 4, 5], 1);
    tf.dispose(peer.call(x, { value: x }));
    expect(peer.weights).toEqual([]);
    const names = [peer._queryDense, peer._keyDense, peer._valueDense, peer._outputDense].flatMap((d) => d.weights.map((w) => w.name));
    expect(names).toEqual([
      'query/kernel',
      'query/bias',
      'key/kernel',
      'key/bias',
      'value/kernel',
      'value/bias',
      'attentionOutput/kernel',
      'attentionOutput/bias',
    ]);
    const ours = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha' });
    tf.dispose(ours.apply(x, { value: x }) as tf.Tensor);
    expect(ours.weights.map((w) => w.name)).toEqual([
      'mha/query/kernel',
      'mha/query/bias',
      'mha/key/kernel',
      'mha/key/bias',
      'mha/value/kernel',
      'mha/value/bias',
      'mha/attention_output/kernel',
      'mha/attention_output/bias',
    ]);
    const peerShapes = [peer._queryDense, peer._keyDense, peer._valueDense, peer._outputDense].flatMap((d) => d.weights.map((w) => w.shape));
    expect(ours.weights.map((w) => w.shape)).toEqual(peerShapes);
    ours.dispose();
    x.dispose();
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s: equal within 1e-5', (_, c, i) => {
    const seed = 500 + 10 * i;
    const query = randomTensor([c.B, c.Tq, c.dq], seed);
    const value = c.self ? query : randomTensor([c.B, c.Tk, c.dv], seed + 1);
    const key = c.dk ? randomTensor([c.B, c.Tk, c.dk], seed + 2) : undefined;
    const mask = c.mask ? rowSafeMask(c.B, c.Tq, c.Tk, seed + 3) : undefined;
    const ours = new MultiHeadAttention({ ...c.args, queryShape: query.shape, valueShape: value.shape, keyShape: key?.shape ?? null });
    seedWeights(ours, seed);
    const peer = new TfjsMultiHeadAttention({ ...c.args }) as unknown as Peer;
    tf.dispose(peer.call(query, { value, key })); // builds the peer's sub-layers
    const w = ours.getWeights();
    const per = c.args.useBias === false ? 1 : 2;
    const dense = [peer._queryDense, peer._keyDense, peer._valueDense, peer._outputDense];
    for (const [j, d] of dense.entries()) d.setWeights(w.slice(j * per, (j + 1) * per));

    const kwargs = { value, key, attentionMask: mask, useCausalMask: c.causal ?? false };
    const [peerOut, peerScores] = peer.callAndReturnAttentionScores(query, kwargs);
    const [out, scores] = ours.call(query, { ...kwargs, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(out!, peerOut, { ...PEER_TOL, label: `${c.name} output` });
    expectTensorsClose(scores!, peerScores, { ...PEER_TOL, label: `${c.name} scores` });
    const peerPlain = peer.call(query, kwargs);
    const plain = ours.apply(query, kwargs) as tf.Tensor;
    expectTensorsClose(plain, peerPlain, { ...PEER_TOL, label: `${c.name} apply vs call` });
    tf.dispose([peerOut, peerScores, out!, scores!, peerPlain, plain, query, c.self ? null : value, key, mask].filter((t): t is tf.Tensor => t != null));
    ours.dispose();
  });
});
