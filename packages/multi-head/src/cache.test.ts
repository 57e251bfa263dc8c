import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { KVCache, MultiHeadAttention, type MultiHeadAttentionArgs } from './index.js';
import { rotaryHook, seedWeights } from './testing/mha-oracle.js';

const DECODE = { rtol: 1e-5, atol: 1e-5 };

function makeLayer(args: Partial<MultiHeadAttentionArgs>, d: number, seed: number) {
  const layer = new MultiHeadAttention({ numHeads: 4, keyDim: 8, ...args, queryShape: [null, null, d], valueShape: [null, null, d] });
  seedWeights(layer, seed);
  return layer;
}

/** Runs `x` [B, T, d] through the layer chunk by chunk with a cache; returns the outputs concatenated. */
function decode(layer: MultiHeadAttention, x: tf.Tensor, chunks: number[], cache = new KVCache()): tf.Tensor {
  const outs: tf.Tensor[] = [];
  let t = 0;
  for (const n of chunks) {
    const step = tf.slice(x, [0, t, 0], [-1, n, -1]); // [B, n, d]
    outs.push(layer.call(step, { value: step, useCausalMask: true, cache }) as tf.Tensor);
    step.dispose();
    t += n;
  }
  const all = tf.concat(outs, 1);
  tf.dispose(outs);
  cache.dispose();
  return all;
}

describeEachBackend('KVCache decoding', () => {
  const variants: Array<[string, Partial<MultiHeadAttentionArgs>]> = [
    ['MHA', {}],
    ['GQA (4 query / 2 kv heads)', { numKeyValueHeads: 2 }],
    ['MQA + rotary hook', { numKeyValueHeads: 1, positionHook: rotaryHook }],
  ];

  it.each(variants)('%s: 32 single-token steps equal the full causal forward', (_, args) => {
    const layer = makeLayer(args, 16, 3);
    const x = randomTensor([2, 32, 16], 4);
    const full = layer.call(x, { value: x, useCausalMask: true }) as tf.Tensor;
    const stepwise = decode(layer, x, Array(32).fill(1));
    expectTensorsClose(stepwise, full, DECODE);
    tf.dispose([x, full, stepwise]);
    layer.dispose();
  });

  it.each(variants)('%s: multi-token steps (prefill 5, then 1, 7, 3, 16) align the causal mask bottom-right', (_, args) => {
    const layer = makeLayer(args, 16, 5);
    const x = randomTensor([2, 32, 16], 6);
    const full = layer.call(x, { value: x, useCausalMask: true }) as tf.Tensor;
    const chunked = decode(layer, x, [5, 1, 7, 3, 16]);
    expectTensorsClose(chunked, full, DECODE);
    tf.dispose([x, full, chunked]);
    layer.dispose();
  });

  it('the rotary hook sees each new token at its absolute position (offset = cached length)', () => {
    // Without offsets a rotary model decodes differently from its full forward: this guards the test above.
    const layer = makeLayer({ positionHook: rotaryHook }, 16, 7);
    const x = randomTensor([1, 6, 16], 8);
    const full = layer.call(x, { value: x, useCausalMask: true }) as tf.Tensor;
    const noOffset = { apply: (t: tf.Tensor) => rotaryHook.apply(t, 0) };
    layer.positionHook = noOffset;
    const wrong = decode(layer, x, [1, 1, 1, 1, 1, 1]);
    const lastRow = (t: tf.Tensor) => tf.slice(t, [0, 5, 0], [1, 1, 16]);
    const [a, b] = [lastRow(full), lastRow(wrong)];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([x, full, wrong, a, b]);
    layer.dispose();
  });

  it('maxLength: filling to the cap works, one more token throws without leaking', () => {
    const layer = makeLayer({}, 8, 9);
    const cache = new KVCache({ maxLength: 4 });
    const x = randomTensor([1, 5, 8], 10);
    const first = tf.slice(x, [0, 0, 0], [1, 4, 8]);
    const last = tf.slice(x, [0, 4, 0], [1, 1, 8]);
    const out = layer.call(first, { value: first, useCausalMask: true, cache }) as tf.Tensor;
    expect(cache.length).toBe(4);
    expectThrowsWithoutLeak(() => layer.call(last, { value: last, cache }), 'MultiHeadAttention: cache would hold 5 tokens, over its maxLength 4, but got 5');
    expect(cache.length).toBe(4);
    tf.dispose([x, first, last, out]);
    cache.dispose();
    layer.dispose();
  });

  it('reorder for beam search: continuing from reordered rows equals the full forward of the reordered batch', () => {
    const layer = makeLayer({ numKeyValueHeads: 2 }, 8, 11);
    const x = randomTensor([3, 10, 8], 12);
    const beams = [2, 0, 0];
    const cache = new KVCache();
    const prefix = tf.slice(x, [0, 0, 0], [3, 5, 8]);
    tf.dispose(layer.call(prefix, { value: prefix, useCausalMask: true, cache }) as tf.Tensor);
    cache.reorder(beams);
    expect(cache.batchSize).toBe(3);
    const reordered = tf.gather(x, tf.tensor1d(beams, 'int32'), 0); // [3, 10, d]
    const rest: tf.Tensor[] = [];
    for (let t = 5; t < 10; t++) {
      const step = tf.slice(reordered, [0, t, 0], [3, 1, 8]);
      rest.push(layer.call(step, { value: step, useCausalMask: true, cache }) as tf.Tensor);
      step.dispose();
    }
    const full = layer.call(reordered, { value: reordered, useCausalMask: true }) as tf.Tensor;
    const tail = tf.slice(full, [0, 5, 0], [3, 5, 8]);
    const got = tf.concat(rest, 1);
    expectTensorsClose(got, tail, DECODE);
    tf.dispose([x, prefix, reordered, ...rest, full, tail, got]);
    cache.dispose();
    layer.dispose();
  });

  it('append disposes the tensors it replaces and keeps its own across tf.tidy', () => {
    const cache = new KVCache();
    const k1 = tf.ones([1, 2, 3, 4]);
    const v1 = tf.ones([1, 2, 3, 5]);
    tf.tidy(() => {
      cache.append(k1, v1);
    });
    const firstKey = cache.key!;
    expect(firstKey.isDisposed).toBe(false);
    const k2 = tf.zeros([1, 2, 1, 4]);
    const v2 = tf.zeros([1, 2, 1, 5]);
    const { key, value } = cache.append(k2, v2);
    expect(firstKey.isDisposed).toBe(true);
    expect(key.shape).toEqual([1, 2, 4, 4]);
    expect(value.shape).toEqual([1, 2, 4, 5]);
    expect(Array.from(tf.sum(key, [0, 1, 3]).dataSync())).toEqual([8, 8, 8, 0]);
    expect(k1.isDisposed || k2.isDisposed).toBe(false); // the caller's tensors stay the caller's
    tf.dispose([k1, v1, k2, v2]);
    cache.reset();
    expect(cache.length).toBe(0);
    expect(cache.key).toBeNull();
  });

  it('200 decode steps with a cache leak nothing: the cache holds exactly its two tensors', async () => {
    const layer = makeLayer({ numHeads: 2, keyDim: 4, numKeyValueHeads: 1, positionHook: rotaryHook }, 8, 13);
    const x = randomTensor([1, 1, 8], 14);
    const cache = new KVCache({ maxLength: 200 });
    const before = tf.memory().numTensors;
    for (let t = 0; t < 200; t++) tf.dispose(layer.call(x, { value: x, useCausalMask: true, cache }) as tf.Tensor);
    expect(cache.length).toBe(200);
    expect(tf.memory().numTensors - before).toBe(2);
    cache.reorder([0, 0]);
    expect(tf.memory().numTensors - before).toBe(2);
    cache.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await expectNoLeak(() => {
      const c = new KVCache();
      const out = layer.call(x, { value: x, cache: c, returnAttentionScores: true });
      c.dispose();
      return out;
    });
    x.dispose();
    layer.dispose();
  });
});
