import { type AttentionOptions, fusedAvailable, scaledDotProductAttention } from '@attnkit/core';
import {
  ATTENTION_CASES,
  type AttentionCase,
  buildCase,
  caseOptions,
  expectNoLeak,
  expectSameAsReference,
  expectTensorsClose,
  expectThrowsWithoutLeak,
  outputAndGrads,
  randomCase,
  randomTensor,
  useBackend,
} from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFusedAttention, unregisterFusedAttention, wasmKernelInfo } from './index.js';
import { setMinMacsPerThread, type WasmBuild } from './wasm.js';

// The tests of the fused kernel, run once per build of the wasm module (fused.test.ts,
// fused-relaxed.test.ts, threads*.test.ts: one process each, as registration is once per process).
// Fused against the reference path on the same backend (wasm): forward within 1e-5 relative,
// gradients within 1e-4 relative (atol for entries near zero). Against the float64 oracle,
// the tolerances of core's oracle.test.ts.

type Built = ReturnType<typeof buildCase>;

/** Output and gradients (query, key, value[, bias]) of sum(output * dOutput). */
function run(built: Built, options: AttentionOptions) {
  return outputAndGrads(built, (q, k, v, bias) => scaledDotProductAttention(q, k, v, { ...options, bias }));
}

/** The fused kernel equals the reference path on case `c`, forward and gradients (and the oracle when asked). */
function checkCase(c: AttentionCase, withOracle: boolean) {
  const built = buildCase(c);
  const options = caseOptions(c, built);
  const fused = run(built, { ...options, implementation: 'fused' });
  const reference = run(built, { ...options, implementation: 'reference' });
  expectSameAsReference(c.name, fused, reference, withOracle ? built : undefined);
  tf.dispose([fused.output, ...fused.grads, reference.output, ...reference.grads]);
  built.dispose();
}

/** The fused kernel of `build` against the reference and the oracle: the whole table, 200 random configurations, tile edges, dispatch, leaks. */
export function fusedAttentionSuite(build: WasmBuild) {
  describe(`fused attention on wasm (${build} build)`, () => {
    beforeAll(async () => {
      await useBackend('wasm');
      await registerFusedAttention({ build }); // relaxed on Node 20: turns V8's flag on
    });

    it(`loads the ${build} build, and says so`, () => {
      expect(wasmKernelInfo()?.build).toBe(build);
    });

    it.each(ATTENTION_CASES.map((c) => [c.name, c] as const))('equals the reference and the oracle: %s', (_, c) => {
      checkCase(c, true);
    });

    it('equals the reference on 200 random configurations, forward and gradients', () => {
      for (let seed = 1; seed <= 200; seed++) checkCase(randomCase(seed), false);
    });

    it('equals the reference across tile and pass edges: up to 530 keys, rows not a multiple of 4, Dk = 13', () => {
      // key tiles are 128 columns and query tiles 4 rows: lengths crossing both, with every masking kind
      const base = { B: 1, Hq: 4, Hkv: 2, Dk: 13, Dv: 9 };
      checkCase({ ...base, name: 'long causal Tq < Tk', Tq: 131, Tk: 300, causal: true }, true);
      checkCase({ ...base, name: 'long window + padding', Tq: 259, Tk: 259, window: { left: 70, right: 5 }, mask: { shape: [1, 1, 1, 259] } }, false);
      checkCase({ ...base, name: 'long bias per head', Tq: 130, Tk: 257, bias: [1, 4, 130, 257] }, false);
      // the backward takes keys in passes of 512, the forward query rows in blocks of 64
      checkCase(
        {
          ...base,
          name: 'two backward key passes',
          Tq: 67,
          Tk: 530,
          window: { left: 600, right: 20 },
          mask: { shape: [1, 1, 67, 530] },
          bias: [1, 1, 67, 530],
        },
        false,
      );
    });

    it("'auto' runs the fused kernel when one is registered", () => {
      // large logits: fused and chunked/sliced differ in the last bits, the fused path equals itself
      const q = randomTensor([1, 2, 40, 8], 3);
      const k = randomTensor([1, 2, 40, 8], 4);
      const auto = scaledDotProductAttention(q, k, k, { causal: true });
      const fused = scaledDotProductAttention(q, k, k, { causal: true, implementation: 'fused' });
      expect(Array.from(auto.dataSync())).toEqual(Array.from(fused.dataSync()));
      tf.dispose([q, k, auto, fused]);
    });

    it('leaks no tensor, forward or backward', async () => {
      const q = randomTensor([2, 4, 9, 8], 1);
      const k = randomTensor([2, 2, 7, 8], 2);
      const bias = randomTensor([1, 4, 9, 7], 3);
      const mask = tf.tensor(
        Array.from({ length: 63 }, (_, i) => i % 3 !== 0),
        [9, 7],
        'bool',
      );
      await expectNoLeak(() => scaledDotProductAttention(q, k, k, { implementation: 'fused', bias, mask, causal: true }));
      await expectNoLeak(() =>
        tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, b, { implementation: 'fused', bias: c, mask })))([
          q,
          k,
          bias,
        ]),
      );
      tf.dispose([q, k, bias, mask]);
    });

    it('dropout while training runs in the kernel: auto and fused agree for a seed (dropout.test.ts checks the pattern)', () => {
      const q = randomTensor([1, 1, 6, 4], 5);
      const auto = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 3 });
      const fused = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 3, implementation: 'fused' });
      const plain = scaledDotProductAttention(q, q, q, { implementation: 'fused' });
      expect(Array.from(auto.dataSync())).toEqual(Array.from(fused.dataSync()));
      expect(Array.from(auto.dataSync())).not.toEqual(Array.from(plain.dataSync()));
      tf.dispose([q, auto, fused, plain]);
    });
  });

  describe('without registration', () => {
    beforeAll(async () => {
      await useBackend('wasm');
      await registerFusedAttention();
      unregisterFusedAttention();
    });
    afterAll(() => registerFusedAttention());

    it('core reports no fused kernel and refuses an explicit fused call', () => {
      expect(fusedAvailable()).toBe(false);
      const q = randomTensor([1, 1, 3, 4], 1);
      expectThrowsWithoutLeak(
        () => scaledDotProductAttention(q, q, q, { implementation: 'fused' }),
        "scaledDotProductAttention: implementation 'fused' cannot run: no AttnkitFusedAttention kernel registered for backend 'wasm', but got 'fused'",
      );
      q.dispose();
    });
  });
}

/** The same kernel on three threads. */
export function threadsSuite(build: WasmBuild) {
  // Three threads (more than this machine's cores is fine): threads race for the work items,
  // helpers idle when a call has fewer items than threads. Same tolerances as the suite above.
  describe(`fused attention on three threads (${build} build)`, () => {
    beforeAll(async () => {
      await useBackend('wasm');
      await registerFusedAttention({ threads: 3, build });
      setMinMacsPerThread(0); // every call on every thread, however small
    });
    afterAll(() => setMinMacsPerThread(2 ** 19));

    it('says which build runs on how many threads', () => {
      expect(wasmKernelInfo()).toEqual({ build, threads: 3 });
    });

    it('equals the reference on 60 random configurations, forward and gradients', () => {
      for (let seed = 1001; seed <= 1060; seed++) {
        const c = randomCase(seed, 40);
        const built = buildCase(c);
        const options = { mask: built.mask, causal: c.causal ?? false, window: c.window ?? null, ...(c.scale !== undefined ? { scale: c.scale } : {}) };
        const inputs = [built.query, built.key, built.value, ...(built.bias ? [built.bias] : [])];
        const [fused, reference] = (['fused', 'reference'] as const).map((implementation) => {
          const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) =>
            scaledDotProductAttention(q, k, v, { ...options, bias: b ?? null, implementation });
          const output = f(built.query, built.key, built.value, built.bias ?? undefined);
          const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) => tf.sum(tf.mul(f(q, k, v, b), tf.sin(f(q, k, v, b)))))(inputs);
          return { output, grads };
        });
        expectTensorsClose(fused!.output, reference!.output, { rtol: 1e-5, atol: 1e-6, label: `${c.name} output` });
        for (const [i, g] of reference!.grads.entries()) expectTensorsClose(fused!.grads[i]!, g, { rtol: 1e-4, atol: 1e-5, label: `${c.name} grad ${i}` });
        tf.dispose([fused!.output, ...fused!.grads, reference!.output, ...reference!.grads]);
        built.dispose();
      }
    });
  });
}
