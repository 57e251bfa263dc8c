import { expectTensorsClose, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MATMUL_MIN_MACS, registerTrainingKernels, unregisterTrainingKernels } from './training.js';
import { wasmKernelInfo } from './register.js';
import { setMinMacsPerThread, type WasmBuild } from './wasm.js';

// The module's matrix product against the cpu backend's: float32 sums of K products in
// another order, so 1e-5 relative and K·1e-7 absolute (entries near zero; inputs in [-1, 1]).
const CLOSE = { rtol: 1e-5, atol: 1e-5 };
const closeFor = (K: number) => ({ rtol: 1e-5, atol: Math.max(1e-5, K * 1e-7) });

async function onCpu<T>(f: () => T): Promise<Float32Array> {
  await useBackend('cpu');
  const y = f() as unknown as tf.Tensor;
  const data = y.dataSync() as Float32Array;
  y.dispose();
  await useBackend('wasm');
  return data;
}

/** tf.matMul of seeded op(A) [M, K] and op(B) [K, N] on wasm equals the cpu backend's. */
async function expectProductLikeCpu(M: number, K: number, N: number, ta: boolean, tb: boolean): Promise<void> {
  const a = randomTensor(ta ? [K, M] : [M, K], M + K);
  const b = randomTensor(tb ? [N, K] : [K, N], N + K);
  const y = tf.matMul(a, b, ta, tb);
  expect(y.shape).toEqual([M, N]);
  const [av, bv] = [a.dataSync(), b.dataSync()];
  expectTensorsClose(y, await onCpu(() => tf.matMul(tf.tensor(av, a.shape), tf.tensor(bv, b.shape), ta, tb)), { ...closeFor(K), label: 'C' });
  tf.dispose([a, b, y]);
}

/** The module's matrix products (BatchMatMul and _FusedMatMul on wasm) in `build`: matmul.test.ts (simd), matmul-relaxed.test.ts (fused multiply-adds). */
export function matmulSuite(build: WasmBuild) {
  describe(`matrix products in the kernels module (BatchMatMul on wasm, ${build} build)`, () => {
    beforeAll(async () => {
      await useBackend('wasm');
      await registerTrainingKernels({ threads: 2, build });
      expect(wasmKernelInfo()?.build).toBe(build);
      setMinMacsPerThread(0); // both threads on every product
    });
    afterAll(() => {
      setMinMacsPerThread(2 ** 19);
      unregisterTrainingKernels();
    });

    const SHAPES: Array<[number, number, number]> = [
      [70, 33, 300], // ragged rows, K and columns; two column blocks
      [5, 1280, 131], // a long K, few rows
      [257, 64, 513], // row and column blocks with one-row and one-column tails
      [64, 1280, 64], // one column block: split into 4 row blocks of 16, one per item
      [130, 700, 36], // row blocks of 36 and a last of 22 (transposed A: a 2-row tail past the 4-row groups)
    ];
    for (const [M, K, N] of SHAPES) {
      for (const [ta, tb] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        it(`[${M}, ${K}] x [${K}, ${N}], transposeA ${ta}, transposeB ${tb}`, async () => {
          expect(M * K * N).toBeGreaterThanOrEqual(MATMUL_MIN_MACS);
          await expectProductLikeCpu(M, K, N, ta, tb);
        });
      }
    }

    // Below MATMUL_MIN_MACS a product with a transposed operand runs in the module too (tfjs-wasm's
    // transposed path is several times slower at every size): a decoding step's tied output
    // projection h·Eᵀ at batch 1, lane and row tails.
    for (const [M, K, N, ta, tb] of [
      [1, 64, 2000, false, true],
      [3, 5, 7, false, true],
      [3, 5, 7, true, false],
      [6, 9, 13, true, true],
    ] as const) {
      it(`small, transposed: [${M}, ${K}] x [${K}, ${N}], transposeA ${ta}, transposeB ${tb}`, async () => {
        expect(M * K * N).toBeLessThan(MATMUL_MIN_MACS);
        await expectProductLikeCpu(M, K, N, ta, tb);
      });
    }

    it('empty products (a zero row, column or inner size), transposed or not, equal the cpu backend', async () => {
      for (const [M, K, N] of [
        [0, 4, 3],
        [2, 0, 3],
        [2, 4, 0],
      ] as const) {
        for (const tb of [false, true]) {
          const y = tf.matMul(tf.ones([M, K]), tf.ones(tb ? [N, K] : [K, N]), false, tb);
          expect(y.shape).toEqual([M, N]);
          expect(Array.from(y.dataSync())).toEqual(new Array(M * N).fill(0));
          y.dispose();
        }
      }
    });

    it('a batch of one at rank 3, and its gradients', async () => {
      const a = randomTensor([1, 96, 80], 1);
      const b = randomTensor([1, 80, 100], 2);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.sin(tf.matMul(x, y)));
      const [da, db] = tf.grads(f)([a, b]);
      const [av, bv] = [a.dataSync(), b.dataSync()];
      await useBackend('cpu');
      const [ca, cb] = [tf.tensor(av, a.shape), tf.tensor(bv, b.shape)];
      const [ea, eb] = tf.grads(f)([ca, cb]);
      const expected = [ea!.dataSync(), eb!.dataSync()];
      tf.dispose([ca, cb, ea!, eb!]);
      await useBackend('wasm');
      expectTensorsClose(da!, expected[0]!, { rtol: 1e-4, atol: 1e-5, label: 'da' });
      expectTensorsClose(db!, expected[1]!, { rtol: 1e-4, atol: 1e-5, label: 'db' });
      tf.dispose([a, b, da!, db!]);
    });

    // tf.fused.matMul: the bias + activation epilogue; the bias a rank-1 view of a rank-2 weight
    // (multi-head's projections), which tfjs-wasm's own kernel cannot take, or a plain rank-1 one.
    for (const [M, K, N, activation, view] of [
      [130, 64, 66, 'relu', true], // a 2-column tail past the SIMD lanes
      [96, 80, 64, 'linear', true],
      [6, 5, 8, 'relu', true], // below MATMUL_MIN_MACS: tfjs-wasm's product, then the bias and relu
      [6, 5, 8, 'linear', false], // below MATMUL_MIN_MACS: tfjs-wasm's fused kernel as it is
      [70, 33, 300, 'elu', true], // an activation the epilogue lacks: tfjs-wasm's kernel, on a rank-1 copy of the bias
    ] as const) {
      it(`tf.fused.matMul [${M}, ${K}] x [${K}, ${N}] + bias${view ? ' (a view)' : ''}, ${activation}, equals the cpu backend`, async () => {
        const a = randomTensor([M, K], M);
        const b = randomTensor([K, N], N);
        const weight = view ? randomTensor([2, N / 2], 5) : randomTensor([N], 5); // [heads, size] or [N]
        const bias = tf.reshape(weight, [N]) as tf.Tensor1D;
        const y = tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation });
        const [av, bv, cv] = [a.dataSync(), b.dataSync(), bias.dataSync()];
        const expected = await onCpu(() => tf.fused.matMul({ a: tf.tensor2d(av, [M, K]), b: tf.tensor2d(bv, [K, N]), bias: tf.tensor1d(cv), activation }));
        expectTensorsClose(y, expected, { ...closeFor(K), label: 'act(a·b + bias)' });
        tf.dispose([a, b, weight, bias, y]);
      });
    }

    it('small products and real batches stay on tfjs-wasm’s own kernel, with the same numbers', async () => {
      const a = randomTensor([3, 4, 5], 3);
      const b = randomTensor([3, 5, 6], 4);
      const y = tf.matMul(a, b);
      const [av, bv] = [a.dataSync(), b.dataSync()];
      expectTensorsClose(y, await onCpu(() => tf.matMul(tf.tensor(av, a.shape), tf.tensor(bv, b.shape))), { ...CLOSE, label: 'batched' });
      tf.dispose([a, b, y]);
    });
  });
}
