import {
  Adam,
  BIAS_ACTIVATION_GRAD_KERNEL,
  DENSE_GRAD_KERNEL,
  PROJECTED_CROSS_ENTROPY_GRAD_KERNEL,
  PROJECTED_CROSS_ENTROPY_KERNEL,
  LOG_SUM_EXP_KERNEL,
  dense,
  dropout,
  embeddingLookup,
  layerNorm,
  projectedCrossEntropy,
  rowLogSumExp,
  softmaxCrossEntropy,
} from '@attnkit/core';
import { expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor, randomValues, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropoutKeep } from './dropout.js';
import { registerTrainingKernels, unregisterTrainingKernels } from './training.js';

// Fused equals reference within float32 rounding: forward 1e-5 relative, gradients 1e-4.
const FWD = { rtol: 1e-5, atol: 1e-6 };
const GRAD = { rtol: 1e-4, atol: 1e-5 };

/** Value and gradients (w.r.t. every float input) of sum(f(...)·weights), weights fixed. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) {
  const y = f(...inputs);
  const w = randomTensor(y.shape, 99);
  const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
  w.dispose();
  return { y, grads };
}

describe('training kernels on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await registerTrainingKernels();
  });
  afterAll(() => unregisterTrainingKernels());

  describe('layerNorm', () => {
    const shape = [3, 5, 24];
    // d = 24: whole SIMD lanes; d = 7 [2, 150]: a lane tail, and column sums over 300 rows
    for (const [B, T, d] of [shape, [2, 150, 7]] as [number, number, number][]) {
      it(`fused equals the reference and float64, forward and gradients, x [${B}, ${T}, ${d}]`, () => {
        const x = randomTensor([B, T, d], 1, -3, 3);
        const gamma = randomTensor([d], 2);
        const beta = randomTensor([d], 3);
        const run = (implementation: 'reference' | 'fused') =>
          valueAndGrads((a, g, b) => layerNorm(a!, g!, b!, { epsilon: 1e-5, implementation }), [x, gamma, beta]);
        const fused = run('fused');
        const reference = run('reference');
        expectTensorsClose(fused.y, reference.y, { ...FWD, label: 'y' });
        for (const [i, label] of ['dx', 'dgamma', 'dbeta'].entries()) expectTensorsClose(fused.grads[i]!, reference.grads[i]!, { ...GRAD, label });
        // float64: row 0 normalised by hand
        const xs = x.dataSync();
        const row = Array.from(xs.slice(0, d));
        const mean = row.reduce((a, b) => a + b, 0) / d;
        const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / d;
        const g = gamma.dataSync();
        const b = beta.dataSync();
        const expected = row.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * g[j]! + b[j]!);
        expectTensorsClose(fused.y.dataSync().slice(0, d), expected, { ...FWD, label: 'float64 row 0' });
        tf.dispose([x, gamma, beta, fused.y, reference.y, ...fused.grads, ...reference.grads]);
      });
    }

    it('leaks no tensor', async () => {
      const x = randomTensor(shape, 4);
      const g = tf.ones([24]);
      const b = tf.zeros([24]);
      await expectNoLeak(() => tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(layerNorm(a, c, d)))([x, g, b])));
      tf.dispose([x, g, b]);
    });
  });

  describe('dense', () => {
    // 12 units: whole SIMD lanes; 13: a lane tail
    for (const [activation, units] of [
      ['relu', 12],
      ['linear', 12],
      ['relu', 13],
      ['linear', 13],
    ] as const) {
      it(`fused ${activation} equals the reference, forward and gradients, ${units} units`, () => {
        const x = randomTensor([37, 16], 5, -2, 2) as tf.Tensor2D;
        const w = randomTensor([16, units], 6) as tf.Tensor2D;
        const b = randomTensor([units], 7) as tf.Tensor1D;
        const run = (implementation: 'reference' | 'fused') =>
          valueAndGrads((a, k, c) => dense(a as tf.Tensor2D, k as tf.Tensor2D, c as tf.Tensor1D, { activation, implementation }), [x, w, b]);
        const fused = run('fused');
        const reference = run('reference');
        expectTensorsClose(fused.y, reference.y, { ...FWD, label: 'y' });
        if (activation === 'relu')
          expect(
            fused.y.dataSync().some((v) => v === 0),
            'relu clips some outputs',
          ).toBe(true);
        for (const [i, label] of ['dx', 'dkernel', 'dbias'].entries()) expectTensorsClose(fused.grads[i]!, reference.grads[i]!, { ...GRAD, label });
        tf.dispose([x, w, b, fused.y, reference.y, ...fused.grads, ...reference.grads]);
      });
    }

    it('the backward is one DENSE_GRAD_KERNEL call, equal to the reference past the products’ panel and thread edges (x [300, 70], 33 units)', async () => {
      const x = randomTensor([300, 70], 8, -2, 2) as tf.Tensor2D;
      const w = randomTensor([70, 33], 9) as tf.Tensor2D;
      const b = randomTensor([33], 10) as tf.Tensor1D;
      for (const activation of ['relu', 'linear'] as const) {
        const run = (implementation: 'reference' | 'fused') =>
          valueAndGrads((a, k, c) => dense(a as tf.Tensor2D, k as tf.Tensor2D, c as tf.Tensor1D, { activation, implementation }), [x, w, b]);
        const fused = run('fused');
        const reference = run('reference');
        for (const [i, label] of ['dx', 'dkernel', 'dbias'].entries())
          expectTensorsClose(fused.grads[i]!, reference.grads[i]!, { ...GRAD, label: `${activation} ${label}` });
        tf.dispose([fused.y, reference.y, ...fused.grads, ...reference.grads]);
      }
      const profile = await tf.profile(() =>
        tf.dispose(tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(dense(a as tf.Tensor2D, k as tf.Tensor2D, b)))([x, w])),
      );
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain(DENSE_GRAD_KERNEL);
      expect(names).not.toContain(BIAS_ACTIVATION_GRAD_KERNEL);
      expect(names.filter((n) => n === 'BatchMatMul')).toEqual([]);
      tf.dispose([x, w, b]);
    });

    it('outside a gradient (inference, decoding), the forward is one _FusedMatMul kernel and no Reshape, equal to the reference', async () => {
      const [x, w, b] = [randomTensor([37, 16], 5, -2, 2) as tf.Tensor2D, randomTensor([16, 12], 6) as tf.Tensor2D, randomTensor([12], 7) as tf.Tensor1D];
      for (const activation of ['relu', 'linear'] as const) {
        const reference = dense(x, w, b, { activation, implementation: 'reference' });
        const profile = await tf.profile(() => {
          const fused = dense(x, w, b, { activation });
          expectTensorsClose(fused, reference, { ...FWD, label: activation });
          fused.dispose();
        });
        expect(profile.kernels.map((k) => k.name)).toEqual(['_FusedMatMul']);
        reference.dispose();
      }
      tf.dispose([x, w, b]);
    });

    it('while a gradient is recorded, the forward is one _FusedMatMul kernel (tf.fused.matMul would split a relu)', async () => {
      const [x, w, b] = [randomTensor([37, 16], 5) as tf.Tensor2D, randomTensor([16, 12], 6) as tf.Tensor2D, randomTensor([12], 7) as tf.Tensor1D];
      const profile = await tf.profile(() =>
        tf
          .grads((a: tf.Tensor) => tf.sum(dense(a as tf.Tensor2D, w, b, { activation: 'relu' })))([x])[0]!
          .dispose(),
      );
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain('_FusedMatMul');
      expect(names).not.toContain('Relu');
      tf.dispose([x, w, b]);
    });
  });

  describe('softmaxCrossEntropy', () => {
    const N = 4;
    const V = 50;
    for (const eps of [0, 0.1]) {
      it(`fused equals the reference and float64 with label smoothing ${eps}, forward and gradients`, () => {
        const logits = randomTensor([2, N / 2, V], 8, -6, 6);
        // the last label is outside [0, V): an all-zero one-hot, as tf.oneHot gives
        const labels = tf.tensor2d(
          [
            [3, 0],
            [49, 57],
          ],
          [2, 2],
          'int32',
        );
        const run = (implementation: 'reference' | 'fused') =>
          valueAndGrads((x) => softmaxCrossEntropy(x!, labels, { labelSmoothing: eps, implementation }), [logits]);
        const fused = run('fused');
        const reference = run('reference');
        expectTensorsClose(fused.y, reference.y, { ...FWD, label: 'loss' });
        expectTensorsClose(fused.grads[0]!, reference.grads[0]!, { ...GRAD, label: 'dlogits' });
        // float64: -Σ t log softmax for each row
        const xs = logits.dataSync();
        const ids = [3, 0, 49, 57];
        const expected = ids.map((id, r) => {
          const row = Array.from(xs.slice(r * V, (r + 1) * V));
          const m = Math.max(...row);
          const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
          return -row.reduce((a, v, j) => a + ((j === id ? 1 - eps : 0) + eps / V) * (v - lse), 0);
        });
        expectTensorsClose(fused.y, expected, { ...FWD, label: 'float64 loss' });
        tf.dispose([logits, labels, fused.y, reference.y, ...fused.grads, ...reference.grads]);
      });
    }

    it('stays finite for logits far apart', () => {
      const logits = tf.tensor2d([[-1000, 1000, 0]], [1, 3]);
      const labels = tf.tensor1d([0], 'int32');
      const loss = softmaxCrossEntropy(logits, labels, { implementation: 'fused' });
      expectTensorsClose(loss, [2000], { rtol: 1e-6, label: 'loss' });
      // 8 logits in SIMD lanes (e^(x - max) below e^-87 is 0 there) and one in the tail
      const wide = tf.tensor2d([[-1000, 1000, 0, 1, 2, 3, 4, 5, 999]], [1, 9]);
      const [wideLoss, [dWide]] = [
        softmaxCrossEntropy(wide, labels, { implementation: 'fused' }),
        tf.grads((x: tf.Tensor) => tf.sum(softmaxCrossEntropy(x, labels, { implementation: 'fused' })))([wide]),
      ];
      expectTensorsClose(wideLoss, [2000 + Math.log(1 + Math.exp(-1))], { rtol: 1e-6, label: 'loss, 9 logits' });
      const p999 = Math.exp(-1) / (1 + Math.exp(-1));
      expectTensorsClose(dWide!, [-1, 1 - p999, 0, 0, 0, 0, 0, 0, p999], { rtol: 1e-5, atol: 1e-6, label: 'dlogits, 9 logits' });
      tf.dispose([logits, labels, loss, wide, wideLoss, dWide!]);
    });
  });

  describe('projectedCrossEntropy', () => {
    // V = 37: a lane tail; 1200 rows: past the products’ panels, on both threads (1.07M multiply-adds); a
    // label outside [0, V) (no one-hot part, as tf.oneHot gives)
    for (const [N, d, V, eps] of [
      [6, 8, 37, 0],
      [1200, 24, 37, 0.1],
    ] as const) {
      it(`fused equals the reference (product, then softmaxCrossEntropy), forward and gradients, hidden [${N}, ${d}], table [${V}, ${d}], ε ${eps}`, async () => {
        const hidden = randomTensor([2, N / 2, d], 11, -2, 2);
        const table = randomTensor([V, d], 12, -1, 1) as tf.Tensor2D;
        const ids = Array.from({ length: N }, (_, i) => (i === 1 ? V + 3 : (i * 7) % V));
        const labels = tf.tensor2d(ids, [2, N / 2], 'int32');
        const run = (implementation: 'reference' | 'fused') =>
          valueAndGrads((h, w) => projectedCrossEntropy(h!, w as tf.Tensor2D, labels, { labelSmoothing: eps, implementation }), [hidden, table]);
        const reference = run('reference');
        let fused!: ReturnType<typeof run>;
        const profile = await tf.profile(() => {
          fused = run('fused');
        });
        expect(fused.y.shape).toEqual([2, N / 2]);
        expectTensorsClose(fused.y, reference.y, { ...FWD, label: 'loss' });
        for (const [i, label] of ['dhidden', 'dtable'].entries()) expectTensorsClose(fused.grads[i]!, reference.grads[i]!, { ...GRAD, label });
        // float64 loss of row 0 from the inputs
        const [h, w] = [hidden.dataSync(), table.dataSync()];
        const logits = Array.from({ length: V }, (_, v) => Array.from({ length: d }, (_, k) => h[k]! * w[v * d + k]!).reduce((a, b) => a + b, 0));
        const m = Math.max(...logits);
        const lse = m + Math.log(logits.reduce((a, x) => a + Math.exp(x - m), 0));
        const row0 = -logits.reduce((a, x, j) => a + ((j === ids[0] ? 1 - eps : 0) + eps / V) * (x - lse), 0);
        expect(fused.y.dataSync()[0]).toBeCloseTo(row0, 4);
        const names = profile.kernels.map((k) => k.name);
        expect(names).toContain(PROJECTED_CROSS_ENTROPY_KERNEL);
        expect(names).toContain(PROJECTED_CROSS_ENTROPY_GRAD_KERNEL);
        expect(names.filter((n) => n === 'BatchMatMul' || n.startsWith('AttnkitSoftmaxCrossEntropy'))).toEqual([]);
        tf.dispose([hidden, table, labels, fused.y, reference.y, ...fused.grads, ...reference.grads]);
      });
    }

    it('checks shapes before it allocates, naming the op and the shapes', () => {
      const [h, w, w8, labels, labels24] = [
        tf.zeros([2, 3, 8]),
        tf.zeros([10, 4]) as tf.Tensor2D,
        tf.zeros([10, 8]) as tf.Tensor2D,
        tf.zeros([2, 3], 'int32'),
        tf.zeros([2, 4], 'int32'),
      ];
      expectThrowsWithoutLeak(
        () => projectedCrossEntropy(h, w, labels),
        /projectedCrossEntropy: hidden \[\.\.\., d\] and table \[V, d\] must share d.*\[2,3,8\].*\[10,4\]/,
      );
      expectThrowsWithoutLeak(
        () => projectedCrossEntropy(h, w8, labels24),
        /projectedCrossEntropy: labels must be int32 with the shape of hidden less its last axis.*\[2,4\]/,
      );
      tf.dispose([h, w, w8, labels, labels24]);
    });

    it('leaks no tensor, forward or backward', async () => {
      const [h, w] = [randomTensor([4, 8], 13), randomTensor([9, 8], 14) as tf.Tensor2D];
      const labels = tf.tensor1d([1, 2, 3, 8], 'int32');
      await expectNoLeak(() => {
        tf.dispose(projectedCrossEntropy(h, w, labels, { labelSmoothing: 0.1 }));
        tf.dispose(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(projectedCrossEntropy(a, b as tf.Tensor2D, labels)))([h, w]));
      });
      tf.dispose([h, w, labels]);
    });
  });

  describe('rowLogSumExp', () => {
    it('fused equals tf.logSumExp and float64, one kernel, rows of 37 (a lane tail) and 2000, logits far apart', async () => {
      for (const V of [37, 2000]) {
        const x = randomTensor([3, 2, V], V, -8, 8);
        const xs = x.dataSync();
        const reference = rowLogSumExp(x, { implementation: 'reference' });
        let fused!: tf.Tensor;
        const profile = await tf.profile(() => {
          fused = rowLogSumExp(x);
        });
        expect(profile.kernels.map((k) => k.name)).toEqual([LOG_SUM_EXP_KERNEL]);
        expect(fused.shape).toEqual([3, 2]);
        expectTensorsClose(fused, reference, { ...FWD, label: `V ${V}` });
        const expected = Array.from({ length: 6 }, (_, r) => {
          const row = Array.from(xs.slice(r * V, (r + 1) * V));
          const m = Math.max(...row);
          return m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
        });
        expectTensorsClose(fused, expected, { ...FWD, label: `float64, V ${V}` });
        tf.dispose([x, reference, fused]);
      }
      const far = tf.tensor2d([[-1000, 1000, 0, 1, 2, 3, 4, 5, 999]]);
      const lse = rowLogSumExp(far);
      expectTensorsClose(lse, [1000 + Math.log(1 + Math.exp(-1))], { rtol: 1e-6, label: 'logits far apart' });
      tf.dispose([far, lse]);
    });

    it('under a gradient takes the reference path: the gradient is the softmax', () => {
      const x = randomTensor([2, 5], 21);
      const g = tf.grad((t: tf.Tensor) => tf.sum(rowLogSumExp(t)))(x);
      const softmax = tf.softmax(x);
      expectTensorsClose(g, softmax, { ...GRAD, label: 'd lse / dx' });
      tf.dispose([x, g, softmax]);
    });

    it('rejects an empty or integer x before it allocates, naming the op', () => {
      const ids = tf.zeros([2, 3], 'int32');
      expectThrowsWithoutLeak(() => rowLogSumExp(ids), /rowLogSumExp: x must be a non-empty float32 tensor \[\.\.\., V\].*\[2,3\]/);
      ids.dispose();
    });
  });

  it('embeddingLookup trains as a gather: its table gradient equals oneHot·E', () => {
    const table = randomTensor([11, 6], 9) as tf.Tensor2D;
    const ids = tf.tensor2d(
      [
        [1, 4, 4],
        [10, 0, 1],
      ],
      [2, 3],
      'int32',
    );
    const run = (implementation: 'reference' | 'auto') => valueAndGrads((t) => embeddingLookup(t as tf.Tensor2D, ids, { implementation }), [table]);
    const gathered = run('auto');
    const onehot = run('reference');
    expectTensorsClose(gathered.y, onehot.y, { ...FWD, label: 'rows' });
    expectTensorsClose(gathered.grads[0]!, onehot.grads[0]!, { ...GRAD, label: 'dtable' });
    tf.dispose([table, ids, gathered.y, onehot.y, ...gathered.grads, ...onehot.grads]);
  });

  describe('dropout', () => {
    // 4·267 + 3 entries: whole lanes and a 3-entry tail
    const shape = [3, 7, 51];
    const n = 3 * 7 * 51;
    it('keeps exactly the entries of the kernels’ hash pattern, scaled by 1/(1 - rate), and its gradient is the same mask', () => {
      const x = randomTensor(shape, 21);
      const dy = randomTensor(shape, 22);
      const rate = 0.3;
      const keep = dropoutKeep([1, 1, 1, n], rate, 12345);
      const scale = Math.fround(1 / Math.fround(1 - Math.fround(rate)));
      const [y, [dx]] = [dropout(x, rate, { seed: 12345 }), tf.grads((a: tf.Tensor) => tf.sum(tf.mul(dropout(a, rate, { seed: 12345 }), dy)))([x])];
      const [xs, ds] = [x.dataSync(), dy.dataSync()];
      expectTensorsClose(
        y,
        Array.from(xs, (v, i) => (keep[i] ? v * scale : 0)),
        { rtol: 1e-7, atol: 0, label: 'y' },
      );
      expectTensorsClose(
        dx!,
        Array.from(ds, (v, i) => (keep[i] ? v * scale : 0)),
        { rtol: 1e-7, atol: 0, label: 'dx' },
      );
      const kept = keep.reduce((a, b) => a + b, 0);
      expect(Math.abs(kept / n - (1 - rate))).toBeLessThan(3 * Math.sqrt((rate * (1 - rate)) / n)); // within 3 sigma
      expect(Array.from(y.dataSync()).filter((v) => v === 0).length).toBe(n - kept);
      tf.dispose([x, dy, y, dx!]);
    });

    it('another seed drops other entries; no tensor leaks', async () => {
      const x = tf.ones(shape);
      const [a, b] = [dropout(x, 0.5, { seed: 1 }), dropout(x, 0.5, { seed: 2 })];
      const differ = Array.from(a.dataSync()).filter((v, i) => v !== b.dataSync()[i]).length;
      expect(differ).toBeGreaterThan(n / 4);
      await expectNoLeak(() =>
        tf
          .grads((t: tf.Tensor) => tf.sum(dropout(t, 0.5)))([x])
          .map((g) => g.dispose()),
      );
      tf.dispose([x, a, b]);
    });
  });

  it('tf.clone shares its data on wasm (no copy) and outlives its source', async () => {
    const x = randomTensor([4, 6], 7);
    const values = x.dataSync().slice();
    const y = tf.clone(x);
    expect(tf.getBackend()).toBe('wasm');
    const heap = (tf.backend() as unknown as { dataIdMap: { get(id: object): { memoryOffset: number } } }).dataIdMap;
    expect(heap.get(y.dataId).memoryOffset).toBe(heap.get(x.dataId).memoryOffset);
    x.dispose();
    expectTensorsClose(y, values, { rtol: 0, atol: 0, label: 'clone after its source is disposed' });
    await expectNoLeak(() => tf.clone(y).dispose());
    const bytes = tf.memory().numBytes;
    tf.clone(y).dispose();
    expect(tf.memory().numBytes).toBe(bytes);
    y.dispose();
  });

  describe('gather', () => {
    it('rows of a table by id equal the cpu backend, float32 and int32, ids of any shape', async () => {
      const table = randomTensor([50, 13], 8);
      const ints = tf.tensor2d(
        Array.from({ length: 50 * 3 }, (_, i) => (i * 7919) % 1000),
        [50, 3],
        'int32',
      );
      const ids = tf.tensor2d(
        [
          [49, 0, 3],
          [3, 3, 17],
        ],
        [2, 3],
        'int32',
      );
      const [rows, intRows, cols] = [tf.gather(table, ids), tf.gather(ints, ids), tf.gather(table, tf.tensor1d([12, 0], 'int32'), 1)];
      expect(rows.shape).toEqual([2, 3, 13]);
      const [tv, iv] = [table.dataSync(), ints.dataSync()];
      await useBackend('cpu');
      const ct = tf.tensor(tv, table.shape);
      const ci = tf.tensor(iv, ints.shape, 'int32');
      const cid = tf.tensor2d(
        [
          [49, 0, 3],
          [3, 3, 17],
        ],
        [2, 3],
        'int32',
      );
      const expected = [tf.gather(ct, cid).dataSync(), tf.gather(ci, cid).dataSync(), tf.gather(ct, tf.tensor1d([12, 0], 'int32'), 1).dataSync()];
      tf.dispose([ct, ci, cid]);
      await useBackend('wasm');
      expectTensorsClose(rows, expected[0]!, { rtol: 0, atol: 0, label: 'float32 rows' });
      expect(Array.from(intRows.dataSync())).toEqual(Array.from(expected[1]!));
      expectTensorsClose(cols, expected[2]!, { rtol: 0, atol: 0, label: 'axis 1 (tfjs-wasm’s own kernel)' });
      tf.dispose([table, ints, ids, rows, intRows, cols]);
    });

    it('an id outside the table throws, naming it, and leaks nothing', () => {
      const table = randomTensor([5, 4], 9);
      const ids = tf.tensor1d([1, 5], 'int32');
      expectThrowsWithoutLeak(() => tf.gather(table, ids), /GatherV2: the index value 5 is not in \[0, 4\]/);
      tf.dispose([table, ids]);
    });
  });

  it('Adam: one fused kernel gives tf.train.adam’s values bit for bit over 3 steps (a 2-value SIMD tail included)', () => {
    const make = (prefix: string) => [tf.variable(randomTensor([7, 3], 10), true, `${prefix}w`), tf.variable(randomTensor([5], 11), true, `${prefix}b`)];
    const fusedVars = make('fused/');
    const plainVars = make('plain/');
    const fused = new Adam(0.01, 0.9, 0.98, 1e-9);
    const plain = tf.train.adam(0.01, 0.9, 0.98, 1e-9);
    const target = randomValues(7 * 3, 12);
    const loss = (vars: tf.Variable[]) => () => tf.add(tf.sum(tf.square(tf.sub(vars[0]!, tf.tensor2d(target, [7, 3])))), tf.sum(tf.sin(vars[1]!))) as tf.Scalar;
    for (let step = 0; step < 3; step++) {
      tf.dispose(fused.minimize(loss(fusedVars), true) ?? []);
      tf.dispose(plain.minimize(loss(plainVars), true) ?? []);
    }
    for (const [i, v] of fusedVars.entries()) expectTensorsClose(v, plainVars[i]!, { rtol: 0, atol: 0, label: `variable ${i}` });
    expect(fused.iterations).toBe(3);
    tf.dispose([...fusedVars, ...plainVars]);
    fused.dispose();
    plain.dispose();
  });
});

describe('without the kernels', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    unregisterTrainingKernels();
  });

  it("implementation 'fused' says which kernel is missing, before allocating", () => {
    const [x, g, b] = [tf.ones([2, 4]), tf.ones([4]), tf.zeros([4])];
    expectThrowsWithoutLeak(
      () => layerNorm(x, g, b, { implementation: 'fused' }),
      /layerNorm: implementation 'fused' cannot run: no AttnkitLayerNorm kernel registered for backend 'wasm'/,
    );
    tf.dispose([x, g, b]);
  });
});
