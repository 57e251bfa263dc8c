import { causalMask } from '@attnkit/masking';
import {
  ATTENTION_CASES,
  type AttentionCase,
  attentionOracle,
  buildCase,
  caseOptions,
  describeEachBackend,
  expectNoLeak,
  expectSameAsReference,
  expectTensorsClose,
  expectThrowsWithoutLeak,
  GRAD_NAMES,
  outputAndGrads,
  peakMemory,
  randomCase,
  randomInt,
  randomTensor,
  seededRandom,
  useBackend,
  TOLERANCES,
} from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ChunkSize, chunkedDropoutMultipliers } from './chunked.js';
import { AUTO_CHUNKED_MIN_SCORES, type AttentionOptions, attentionWeights, attentionWithWeights, scaledDotProductAttention } from './index.js';
import type { AttentionDims } from './types.js';

// Chunked against the reference path on the same backend: forward within 1e-5 relative,
// gradients within 1e-4 relative (atol for entries near zero). Against the float64 oracle,
// the tolerances of oracle.test.ts.
const { sameForward: SAME_FORWARD, sameGrad: SAME_GRAD, oracleForward: ORACLE_FORWARD } = TOLERANCES;

type Built = ReturnType<typeof buildCase>;

/** Output and gradients (query, key, value[, bias]) of sum(output * dOutput). */
function run(built: Built, options: AttentionOptions) {
  return outputAndGrads(built, (q, k, v, bias) => scaledDotProductAttention(q, k, v, { ...options, bias }));
}

/** Chunked with `chunkSize` equals the reference on case `c`, forward and gradients (and the oracle when asked). */
function checkAgainstReference(c: AttentionCase, chunkSize: ChunkSize, withOracle: boolean) {
  const built = buildCase(c);
  const options = caseOptions(c, built);
  const chunked = run(built, { ...options, implementation: 'chunked', chunkSize });
  const reference = run(built, { ...options, implementation: 'reference' });
  expectSameAsReference(`${c.name} chunk ${JSON.stringify(chunkSize)}`, chunked, reference, withOracle ? built : undefined);
  tf.dispose([chunked.output, ...chunked.grads, reference.output, ...reference.grads]);
  built.dispose();
}

function dimsOf(c: AttentionCase): AttentionDims {
  return { B: c.B, Hq: c.Hq, Hkv: c.Hkv, Tq: c.Tq, Tk: c.Tk, Dk: c.Dk, Dv: c.Dv, group: c.Hq / c.Hkv };
}

/** Reference attention with explicit dropout multipliers z [B, Hq, Tq, Tk]: (W ⊙ z) · V. */
function referenceWithMultipliers(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, z: tf.Tensor, options: AttentionOptions) {
  const [B, Hkv, Tk, Dv] = v.shape as [number, number, number, number];
  const Hq = q.shape[1]!;
  const w = attentionWeights(q, k, { ...options, implementation: 'reference' }); // [B, Hq, Tq, Tk]
  const group = Hq / Hkv;
  const vRep = tf.reshape(tf.broadcastTo(tf.reshape(v, [B * Hkv, 1, Tk * Dv]), [B * Hkv, group, Tk * Dv]), [B, Hq, Tk, Dv]);
  return tf.matMul(tf.mul(w, z), vRep); // [B, Hq, Tq, Dv]
}

/** Names of the kernels `fn` runs. */
async function kernelNames(fn: () => tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => {
    const out = fn();
    out.dataSync();
    out.dispose();
  });
  return info.kernels.map((k) => k.name);
}

const MiB = 2 ** 20;

describeEachBackend('chunked attention equals the reference', () => {
  // Tiles of 2 queries x 3 keys cut every case into several tiles with ragged edges; the
  // default tile covers each case in one tile.
  it.each(ATTENTION_CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    checkAgainstReference(c, { query: 2, key: 3 }, true);
    checkAgainstReference(c, 5, false);
  });

  it('on 200 seeded random configurations with random tile sizes', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const c = randomCase(1000 + seed, 32);
      const rand = seededRandom(seed);
      checkAgainstReference(c, { query: randomInt(rand, 3, 16), key: randomInt(rand, 3, 16) }, false);
    }
  });

  it('when the mask is built inside the gradient function and disposed before the backward pass', () => {
    const q = randomTensor([1, 2, 9, 4], 1);
    const k = randomTensor([1, 2, 9, 4], 2);
    const v = randomTensor([1, 2, 9, 4], 3);
    const gradsOf = (implementation: 'chunked' | 'reference') =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.square(scaledDotProductAttention(a, b, c, { mask: causalMask(9), implementation, chunkSize: 4 }))),
      )([q, k, v]);
    const chunked = gradsOf('chunked');
    const reference = gradsOf('reference');
    for (const [i, g] of reference.entries()) expectTensorsClose(chunked[i]!, g, SAME_GRAD);
    tf.dispose([q, k, v, ...chunked, ...reference]);
  });

  it("refuses weights requests, which it cannot answer without the full matrix (one rule with 'fused')", () => {
    const c = ATTENTION_CASES.find((x) => x.name === 'everything at once')!;
    const built = buildCase(c);
    const options = { ...caseOptions(c, built), implementation: 'chunked' as const, chunkSize: 2 };
    const reason =
      "implementation 'chunked' cannot run: it never forms the attention weights this call returns; use 'auto', 'reference' or 'sliced', but got 'chunked'";
    expectThrowsWithoutLeak(() => attentionWithWeights(built.query, built.key, built.value, options), new RegExp(`^attentionWithWeights: ${literal(reason)}$`));
    expectThrowsWithoutLeak(() => attentionWeights(built.query, built.key, options), new RegExp(`^attentionWeights: ${literal(reason)}$`));
    // the same call under 'auto' returns the oracle's weights
    const { output, weights } = attentionWithWeights(built.query, built.key, built.value, { ...options, implementation: 'auto' });
    const expected = attentionOracle(built.oracle);
    expectTensorsClose(weights, expected.weights.data, ORACLE_FORWARD);
    expectTensorsClose(output, expected.output.data, ORACLE_FORWARD);
    tf.dispose([output, weights]);
    built.dispose();
  });
});

/** A string matched literally in a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describeEachBackend('chunked attention: tiles, dropout, memory hygiene', (backend) => {
  // The product Q·Kᵀ runs once per computed tile; so does W·V.
  const matMuls = (names: string[]) => names.filter((n) => n === 'BatchMatMul').length;

  it('computes only the tiles with a visible (query, key) pair: causal costs about half', async () => {
    const T = 64;
    const size = 8;
    const [q, k, v] = [1, 2, 3].map((s) => randomTensor([1, 1, T, 4], s));
    const count = async (options: AttentionOptions) =>
      matMuls(await kernelNames(() => scaledDotProductAttention(q!, k!, v!, { ...options, implementation: 'chunked', chunkSize: size })));
    // Brute force over positions: a tile counts if some query in it sees some key in it.
    const visibleTiles = (sees: (i: number, j: number) => boolean) => {
      let n = 0;
      for (let ti = 0; ti < T / size; ti++)
        for (let tj = 0; tj < T / size; tj++) {
          let any = false;
          for (let i = ti * size; i < (ti + 1) * size && !any; i++) for (let j = tj * size; j < (tj + 1) * size && !any; j++) any = sees(i, j);
          if (any) n++;
        }
      return n;
    };
    expect(await count({})).toBe(2 * 64);
    expect(await count({ causal: true })).toBe(2 * visibleTiles((i, j) => j <= i));
    expect(visibleTiles((i, j) => j <= i)).toBe(36); // 8·9/2 of 64 tiles
    expect(await count({ window: { left: 5, right: 2 } })).toBe(2 * visibleTiles((i, j) => j >= i - 5 && j <= i + 2));
    tf.dispose([q!, k!, v!]);
  });

  it('applies exactly the dropout multipliers of its per-tile stream, forward and backward', () => {
    const c: AttentionCase = {
      name: 'dropout',
      B: 2,
      Hq: 4,
      Hkv: 2,
      Tq: 7,
      Tk: 10,
      Dk: 5,
      Dv: 3,
      causal: true,
      bias: [4, 7, 10],
      mask: { shape: [2, 1, 1, 10], density: 0.8 },
    };
    const built = buildCase(c);
    const chunkSize = { query: 3, key: 4 };
    const dropout = { dropout: 0.3, seed: 42 };
    const z = chunkedDropoutMultipliers(dimsOf(c), { ...dropout, chunkSize });
    const options = caseOptions(c, built);
    const chunked = run(built, { ...options, ...dropout, training: true, implementation: 'chunked', chunkSize });
    const dOut = tf.tensor(Float32Array.from(built.dOutput.data), built.dOutput.shape, 'float32');
    const inputs = [built.query, built.key, built.value, built.bias!];
    const expected = referenceWithMultipliers(built.query, built.key, built.value, z, options);
    const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(referenceWithMultipliers(q, k, v, z, { ...options, bias: b }), dOut)),
    )(inputs);
    expectTensorsClose(chunked.output, expected, SAME_FORWARD);
    for (const [i, g] of grads.entries()) expectTensorsClose(chunked.grads[i]!, g, { ...SAME_GRAD, label: GRAD_NAMES[i] });
    tf.dispose([z, dOut, expected, chunked.output, ...chunked.grads, ...grads]);
    built.dispose();
  });

  it('draws dropout at the requested rate, unbiased, seeded, and consistent between passes without a seed', () => {
    const dims = { B: 2, Hq: 4, Hkv: 2, Tq: 64, Tk: 80, Dk: 4, Dv: 4, group: 2 };
    const rate = 0.25;
    const z = chunkedDropoutMultipliers(dims, { dropout: rate, seed: 7, chunkSize: { query: 16, key: 32 } });
    const values = z.dataSync();
    const n = values.length;
    const kept = values.filter((x) => x > 0).length;
    // Binomial(n, 0.75): within 5 standard deviations.
    expect(Math.abs(kept - n * (1 - rate))).toBeLessThan(5 * Math.sqrt(n * rate * (1 - rate)));
    expect(new Set(values)).toEqual(new Set([0, Math.fround(1 / (1 - rate))]));
    // Tiles draw different patterns: two same-shaped tiles of one head agree on ~ 62.5% of entries, not all.
    const tile = (i: number) => Array.from(values.slice(i * 32, i * 32 + 32));
    expect(tile(0)).not.toEqual(tile(1));
    z.dispose();

    // Unbiased: averaged over 200 seeds, the output approaches the no-dropout output.
    const c = ATTENTION_CASES.find((x) => x.name === 'GQA causal Tq < Tk')!;
    const built = buildCase(c);
    const options = { ...caseOptions(c, built), implementation: 'chunked' as const, chunkSize: 2 };
    const plain = scaledDotProductAttention(built.query, built.key, built.value, options);
    const mean = tf.tidy(() => {
      let sum: tf.Tensor = tf.zerosLike(plain);
      for (let seed = 1; seed <= 200; seed++) {
        sum = tf.add(sum, scaledDotProductAttention(built.query, built.key, built.value, { ...options, dropout: 0.5, training: true, seed }));
      }
      return tf.div(sum, 200);
    });
    // Each output entry is a sum of <= 5 weighted values in [-1, 1] with multipliers 0 or 2:
    // its standard deviation is below 1, so 200 draws put the mean within 5/sqrt(200) = 0.35.
    expectTensorsClose(mean, plain, { rtol: 0, atol: 0.35 });

    // Same seed, same output; another seed, another output.
    const drop = (seed?: number) =>
      scaledDotProductAttention(built.query, built.key, built.value, {
        ...options,
        dropout: 0.5,
        training: true,
        ...(seed !== undefined ? { seed } : {}),
      });
    const [a, b, other] = [drop(3), drop(3), drop(4)];
    expectTensorsClose(a, b, { rtol: 0, atol: 0 });
    expect(Array.from(other.dataSync())).not.toEqual(Array.from(a.dataSync()));

    // Without a seed, the backward pass replays the forward's pattern: the output is linear
    // in the values, so sum(dOut ⊙ output) = sum(value ⊙ dValue) for that very pattern.
    const dOut = randomTensor(plain.shape, 9);
    const { value: loss, grads } = tf.valueAndGrads((v: tf.Tensor) =>
      tf.sum(tf.mul(scaledDotProductAttention(built.query, built.key, v, { ...options, dropout: 0.5, training: true }), dOut)),
    )([built.value]);
    const identity = tf.sum(tf.mul(built.value, grads[0]!));
    expect(identity.dataSync()[0]).toBeCloseTo(loss.dataSync()[0]!, 4);
    tf.dispose([plain, mean, a, b, other, dOut, loss, identity, ...grads]);
    built.dispose();
  });

  it('leaks no tensor, forward or backward, with every option on', async () => {
    const c = ATTENTION_CASES.find((x) => x.name === 'everything at once')!;
    const built = buildCase(c);
    const options = { ...caseOptions(c, built), implementation: 'chunked' as const, chunkSize: 3, window: { left: 3 } };
    await expectNoLeak(() => scaledDotProductAttention(built.query, built.key, built.value, options));
    await expectNoLeak(() =>
      tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b: tf.Tensor) =>
        tf.sum(scaledDotProductAttention(q, k, v, { ...options, bias: b, dropout: 0.2, training: true })),
      )([built.query, built.key, built.value, built.bias!]),
    );
    built.dispose();
  });

  it('rejects a bad chunkSize before allocating anything', () => {
    const q = randomTensor([1, 1, 4, 2], 1);
    for (const chunkSize of [0, 2.5, -1, { query: 4 }, { query: 4, key: 0 }]) {
      expectThrowsWithoutLeak(
        () => scaledDotProductAttention(q, q, q, { implementation: 'chunked', chunkSize: chunkSize as ChunkSize }),
        /^scaledDotProductAttention: chunkSize must be a positive integer or \{ query, key \} of positive integers, but got/,
      );
    }
    q.dispose();
  });

  it("'auto' switches to chunked from the backend's AUTO_CHUNKED_MIN_SCORES", async () => {
    // Tq·Tk at the threshold with one head: chunked runs two matMuls per tile; one below
    // it, the reference / sliced path runs two (one head, one batch).
    const threshold = AUTO_CHUNKED_MIN_SCORES[backend];
    const T = Math.ceil(Math.sqrt(threshold));
    const q = randomTensor([1, 1, T, 2], 1);
    const qShort = randomTensor([1, 1, T - 8, 2], 2);
    const above = matMuls(await kernelNames(() => scaledDotProductAttention(q, q, q)));
    const below = matMuls(await kernelNames(() => scaledDotProductAttention(qShort, q, q)));
    expect((T - 8) * T).toBeLessThan(threshold);
    expect(above).toBeGreaterThan(2);
    expect(below).toBe(2);
    tf.dispose([q, qShort]);
  });
});

describe('chunked attention memory, T = 4096, H = 8, d = 64 [wasm]', () => {
  beforeAll(() => useBackend('wasm'));

  // A window of the diagonal alone keeps the test short: it visits only the 8 diagonal tiles
  // of each head, but each is a full 512 x 512 tile (with a mask, the costliest kind) and the
  // O(T) buffers (per-head tiles of the inputs, output, gradients) are those of full
  // attention, so the peak is that of full attention. The bench (apps/bench/scripts/chunked-memory.mjs)
  // measures full attention up to T = 16384.
  it('peaks under 32 MB forward and 64 MB forward + backward', () => {
    const shape = [1, 8, 4096, 64];
    const [q, k, v, dOut] = [1, 2, 3, 4].map((s) => randomTensor(shape, s));
    const options: AttentionOptions = { implementation: 'chunked', window: { left: 0 } };
    const forward = peakMemory(() => {
      const out = scaledDotProductAttention(q!, k!, v!, options);
      out.dataSync();
      out.dispose();
    });
    const backward = peakMemory(() => {
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => scaledDotProductAttention(a, b, c, options))([q!, k!, v!], dOut);
      grads[0]!.dataSync();
      tf.dispose(grads);
    });
    // The output alone is 8 MiB and the three gradients 24 MiB.
    expect(forward.peak / MiB).toBeLessThanOrEqual(32);
    expect(backward.peak / MiB).toBeLessThanOrEqual(64);
    // The tape holds views of query, key, value and output, not copies (32 MiB otherwise).
    expect(backward.tapeCopies).toBe(0);
    tf.dispose([q!, k!, v!, dOut!]);
  });
});
