import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { AttentionError, CrossAttention, MemoryCache } from './index.js';

const B = 2;
const Tq = 3;
const Ts = 5;
const d = 8;

function setup(seed = 1, args: Partial<ConstructorParameters<typeof CrossAttention>[0]> = {}) {
  const layer = new CrossAttention({ numHeads: 4, keyDim: 4, numKeyValueHeads: 2, ...args });
  const query = randomTensor([B, Tq, d], seed);
  const memory = randomTensor([B, Ts, 6], seed + 1);
  // second source sentence is 3 tokens long
  const memoryMask = tf.tensor2d(
    [
      [1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0],
    ],
    [B, Ts],
    'bool',
  );
  layer.build([query.shape, memory.shape]);
  // seeded, non-trivial weights (biases too)
  const values = layer.weights.map((w, i) => randomTensor(w.shape as number[], 100 + i, -0.5, 0.5));
  layer.setWeights(values);
  tf.dispose(values);
  return { layer, query, memory, memoryMask, dispose: () => tf.dispose([query, memory, memoryMask]) };
}

describeEachBackend('CrossAttention', () => {
  it('attentionMask (memory_mask) and per-head attentionBias equal MultiHeadAttention with them ANDed with the padding', () => {
    const { layer, query, memory, memoryMask, dispose } = setup(7);
    const attentionMask = tf.tensor2d(
      [
        [1, 1, 0, 1, 1],
        [0, 1, 1, 1, 1],
        [1, 1, 1, 1, 0],
      ],
      [Tq, Ts],
      'bool',
    ); // [Tq, Ts]
    const attentionBias = randomTensor([B, 4, Tq, Ts], 8); // per head
    const [out, weights] = layer.apply(query, { memory, memoryMask, attentionMask, attentionBias, returnAttentionScores: true }) as tf.Tensor[];
    const keras = tf.logicalAnd(tf.expandDims(memoryMask, 1), attentionMask); // [B, Tq, Ts]
    const [ref, refWeights] = layer.attention.apply(query, { value: memory, attentionMask: keras, attentionBias, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(out!, ref!, { rtol: 1e-6, atol: 1e-7 });
    expectTensorsClose(weights!, refWeights!, { rtol: 1e-6, atol: 1e-7 });
    expect((weights!.arraySync() as number[][][][])[0]![1]![0]![2]).toBe(0);
    const wrong = tf.zeros([2, 3, 4]);
    expectThrowsWithoutLeak(
      () => layer.apply(query, { memory, attentionBias: wrong }),
      'CrossAttention: attentionBias must broadcast to [B, Tq, Ts] = [2,3,5] or [B, N, Tq, Ts] = [2,4,3,5], but got attentionBias [2,3,4]',
    );
    expectThrowsWithoutLeak(() => layer.apply(query, { memory, attentionBias: keras }), "CrossAttention: attentionBias must be float32, but got 'bool'");
    tf.dispose([out!, weights!, keras, wrong, ref!, refWeights!, attentionMask, attentionBias]);
    dispose();
    layer.dispose();
  });

  it('equals MultiHeadAttention with value = memory and the padding mask on every query', () => {
    const { layer, query, memory, memoryMask, dispose } = setup();
    const [out, weights] = layer.apply(query, { memory, memoryMask, returnAttentionScores: true }) as tf.Tensor[];
    const keras = tf.tile(tf.expandDims(memoryMask, 1), [1, Tq, 1]); // [B, Tq, Ts]
    const [ref, refWeights] = layer.attention.apply(query, { value: memory, attentionMask: keras, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(out!, ref!, { rtol: 1e-6, atol: 1e-7 });
    expectTensorsClose(weights!, refWeights!, { rtol: 1e-6, atol: 1e-7 });
    expect(weights!.shape).toEqual([B, 4, Tq, Ts]);
    tf.dispose([out!, weights!, keras, ref!, refWeights!]);
    dispose();
    layer.dispose();
  });

  it('gives padded memory positions zero weight; their content cannot change the output', () => {
    const { layer, query, memory, memoryMask, dispose } = setup(2);
    const [out, w] = layer.apply(query, { memory, memoryMask, returnAttentionScores: true }) as tf.Tensor[];
    const weights = w!.arraySync() as number[][][][];
    for (const head of weights[1]!) for (const row of head) expect([row[3], row[4]]).toEqual([0, 0]);
    for (const head of weights[0]!) for (const row of head) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // scribble over the padding of the second sentence
    const noise = tf.mul(randomTensor([B, Ts, 6], 9, 10, 20), tf.reshape(tf.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]), [B, Ts, 1]));
    const scribbled = tf.add(memory, noise);
    const out2 = layer.apply(query, { memory: scribbled, memoryMask }) as tf.Tensor;
    expectTensorsClose(out2, out!, { rtol: 1e-6, atol: 1e-6 });
    tf.dispose([out!, w!, noise, scribbled, out2]);
    dispose();
    layer.dispose();
  });

  it('a memory projected once gives the same output at every step as projecting each time', () => {
    const { layer, query, memory, memoryMask, dispose } = setup(3);
    const cache = layer.projectMemory(memory, memoryMask);
    expect(cache.key.shape).toEqual([B, 2, Ts, 4]);
    for (let t = 0; t < Tq; t++) {
      const step = tf.slice(query, [0, t, 0], [B, 1, d]);
      const cached = layer.apply(step, { memoryCache: cache }) as tf.Tensor;
      const fresh = layer.apply(step, { memory, memoryMask }) as tf.Tensor;
      expectTensorsClose(cached, fresh, { rtol: 1e-6, atol: 1e-7 });
      tf.dispose([step, cached, fresh]);
    }
    cache.dispose();
    dispose();
    layer.dispose();
  });

  it('reorders the memory cache for beams', () => {
    const { layer, query, memory, memoryMask, dispose } = setup(4);
    const cache = layer.projectMemory(memory, memoryMask);
    cache.reorder([1, 1, 0]); // three beams: two from sentence 1, one from sentence 0
    const q = tf.gather(query, [1, 1, 0]);
    const viaCache = layer.apply(q, { memoryCache: cache }) as tf.Tensor;
    const m = tf.gather(memory, [1, 1, 0]);
    const mm = tf.gather(memoryMask, [1, 1, 0]);
    const direct = layer.apply(q, { memory: m, memoryMask: mm }) as tf.Tensor;
    expectTensorsClose(viaCache, direct, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([q, viaCache, m, mm, direct]);
    cache.dispose();
    dispose();
    layer.dispose();
  });

  it('leaks no tensor across 100 cached steps, and the cache frees what it holds', async () => {
    const { layer, query, memory, memoryMask, dispose } = setup(5);
    const step = tf.slice(query, [0, 0, 0], [B, 1, d]);
    await expectNoLeak(() => {
      const cache = layer.projectMemory(memory, memoryMask);
      for (let i = 0; i < 100; i++) tf.dispose(layer.apply(step, { memoryCache: cache, returnAttentionScores: i % 2 === 0 }) as tf.Tensor | tf.Tensor[]);
      cache.reorder([0, 0, 1, 1]);
      cache.dispose();
    });
    tf.dispose(step);
    dispose();
    layer.dispose();
  });
});

describe('CrossAttention bad input', () => {
  it('names the op and shapes, and leaks nothing', () => {
    const { layer, query, memory, memoryMask, dispose } = setup(6);
    const wrongBatch = tf.zeros([3, Ts, 6]);
    const wrongMask = tf.ones([B, Ts + 1], 'bool');
    const rank2 = tf.zeros([B, d]);
    const cases: Array<[() => unknown, string]> = [
      [() => layer.apply(query, {}), 'CrossAttention: pass exactly one of memory and memoryCache, but got'],
      [() => layer.apply(query, { memory: wrongBatch }), 'CrossAttention: query and memory batch sizes must match, but got query [2,3,8] and memory [3,5,6]'],
      [
        () => layer.apply(query, { memory, memoryMask: wrongMask }),
        'CrossAttention: memoryMask must be [B, Ts] like memory, but got memory [2,5,6] and memoryMask [2,6]',
      ],
      [() => layer.apply(rank2, { memory }), 'CrossAttention: query must be a rank-3 tensor [B, Tq, d], but got query [2,8]'],
      [() => layer.projectMemory(rank2), 'projectMemory: memory must be a non-empty rank-3 tensor [B, Ts, dm], but got memory [2,8]'],
    ];
    for (const [fn, message] of cases) expect(expectThrowsWithoutLeak(fn, message)).toBeInstanceOf(AttentionError);
    const cache = layer.projectMemory(memory);
    const q3 = tf.zeros([3, 1, d]);
    expectThrowsWithoutLeak(
      () => layer.apply(q3, { memoryCache: cache }),
      'CrossAttention: memoryCache must be a MemoryCache with the batch of query, but got query [3,1,8] and memoryKey [2,2,5,4]',
    );
    expectThrowsWithoutLeak(() => layer.apply(query, { memoryCache: cache, memoryMask }), 'memoryMask belongs to projectMemory');
    cache.dispose();
    expect(() => cache.key).toThrow('MemoryCache: the cache has been disposed');
    expect(cache).toBeInstanceOf(MemoryCache);
    tf.dispose([wrongBatch, wrongMask, rank2, q3]);
    dispose();
    layer.dispose();
  });
});
