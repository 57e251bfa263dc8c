import { describeEachBackend, expectNoLeak, expectTensorsClose, seededRandom } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Transformer, type TransformerConfig, beamSearch, beamSearchAsync, greedyDecode, greedyDecodeAsync } from './index.js';

const small: TransformerConfig = {
  sourceVocabSize: 13,
  targetVocabSize: 13,
  dModel: 16,
  numHeads: 4,
  ffDim: 32,
  numEncoderLayers: 2,
  numDecoderLayers: 2,
  dropout: 0,
};

/** A random (seeded) untrained model whose output distribution is spread out (so decoding paths differ). */
function model(config: Partial<TransformerConfig> = {}) {
  return new Transformer({ ...small, seed: 11, ...config }).build();
}

/** Log-probability of `tokens` then EOS for source row `b`, by one teacher-forced forward pass. */
function teacherForcedLogProb(m: Transformer, src: tf.Tensor2D, b: number, tokens: number[]): number {
  const { bosId, eosId } = m.config;
  return tf.tidy(() => {
    const row = tf.slice(src, [b, 0], [1, -1]);
    const { memory, memoryMask } = m.encode(row);
    const ids = tf.tensor2d([[bosId, ...tokens]], [1, tokens.length + 1], 'int32');
    const logp = tf.logSoftmax(m.decode(ids, { memory, memoryMask }).logits).arraySync() as number[][][];
    return [...tokens, eosId].reduce((sum, token, t) => sum + logp[0]![t]![token]!, 0);
  });
}

const source = () =>
  tf.tensor2d(
    [
      [3, 4, 5, 6, 7, 0],
      [8, 9, 10, 0, 0, 0],
    ],
    [2, 6],
    'int32',
  );

describeEachBackend('decoding', () => {
  for (const normFirst of [false, true]) {
    it(`step-by-step logits on the caches equal the full causal forward (${normFirst ? 'pre' : 'post'}-norm)`, () => {
      const m = model({ normFirst, positional: normFirst ? 'learned' : 'sinusoidal', maxLength: 16 });
      const src = source();
      const { memory, memoryMask } = m.encode(src);
      const rand = seededRandom(3);
      const prefix = Array.from({ length: 2 }, () => [1, ...Array.from({ length: 7 }, () => 3 + Math.floor(rand() * 10))]);
      const full = m.decode(tf.tensor2d(prefix, [2, 8], 'int32'), { memory, memoryMask });
      const state = m.startDecoding(memory, memoryMask);
      for (let t = 0; t < 8; t++) {
        const ids = tf.tensor2d(
          prefix.map((p) => [p[t]!]),
          [2, 1],
          'int32',
        );
        const step = m.decode(ids, { state });
        const ref = tf.slice(full.logits, [0, t, 0], [2, 1, -1]);
        expectTensorsClose(step.logits, ref, { rtol: 1e-5, atol: 1e-5, label: `step ${t}` });
        tf.dispose([ids, step.logits, ref]);
      }
      for (const c of [...state.selfCaches, ...state.memoryCaches]) c.dispose();
      tf.dispose([src, memory, memoryMask, full.logits]);
      m.dispose();
    });
  }

  it('greedy and beam search give the same tokens with and without caches; beam size 1 is greedy', () => {
    const m = model({ normFirst: true });
    const src = source();
    const greedy = greedyDecode(m, src, { maxLength: 8 });
    const greedyNoCache = greedyDecode(m, src, { maxLength: 8, useCache: false });
    expect(greedyNoCache.map((h) => h.tokens)).toEqual(greedy.map((h) => h.tokens));
    for (const [i, h] of greedy.entries()) expect(h.score).toBeCloseTo(greedyNoCache[i]!.score, 4);
    const beam = beamSearch(m, src, { maxLength: 8, beamSize: 3 });
    const beamNoCache = beamSearch(m, src, { maxLength: 8, beamSize: 3, useCache: false });
    expect(beamNoCache.map((h) => h.tokens)).toEqual(beam.map((h) => h.tokens));
    for (const [i, h] of beam.entries()) expect(h.score).toBeCloseTo(beamNoCache[i]!.score, 4);
    expect(beamSearch(m, src, { maxLength: 8, beamSize: 1 }).map((h) => h.tokens)).toEqual(greedy.map((h) => h.tokens));
    // scores are what they say: greedy's the log-probability of its tokens and EOS, beam's that
    // divided by the GNMT length penalty ((5 + length) / 6)^0.6, checked by teacher forcing
    for (const [i, h] of greedy.entries()) expect(h.score).toBeCloseTo(teacherForcedLogProb(m, src, i, h.tokens), 4);
    for (const [i, h] of beam.entries()) {
      const penalty = ((5 + h.tokens.length + 1) / 6) ** 0.6;
      expect(h.score).toBeCloseTo(teacherForcedLogProb(m, src, i, h.tokens) / penalty, 4);
    }
    src.dispose();
    m.dispose();
  });

  it('returns per-token attention: self over the prefix, cross over the source, rows summing to 1', () => {
    const m = model();
    const src = source();
    const [h] = greedyDecode(m, src, { maxLength: 4, returnAttention: true });
    expect(h!.attention!.length).toBe(h!.tokens.length + 1); // every token and the final EOS
    h!.attention!.forEach((layers, t) => {
      expect(layers.length).toBe(2);
      for (const { self, cross } of layers) {
        expect(self.length).toBe(4); // heads
        expect(self[0]!.length).toBe(t + 1); // keys so far
        expect(cross[0]!.length).toBe(6); // source length
        for (const row of [...self, ...cross]) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        for (const row of cross) expect(row[5]).toBe(0); // padding of sentence 0
      }
    });
    src.dispose();
    m.dispose();
  });

  it('async greedy and beam search give exactly the sync hypotheses, attention included, and leak nothing', async () => {
    const m = model({ normFirst: true });
    const src = source();
    const options = { maxLength: 6, returnAttention: true };
    expect(await greedyDecodeAsync(m, src, options)).toEqual(greedyDecode(m, src, options));
    expect(await beamSearchAsync(m, src, { ...options, beamSize: 3 })).toEqual(beamSearch(m, src, { ...options, beamSize: 3 }));
    const uncached = await greedyDecodeAsync(m, src, { maxLength: 6, useCache: false });
    expect(uncached.map((h) => h.tokens)).toEqual(greedyDecode(m, src, { maxLength: 6 }).map((h) => h.tokens));
    await expectNoLeak(() => greedyDecodeAsync(m, src, options));
    await expectNoLeak(() => beamSearchAsync(m, src, { ...options, beamSize: 2 }));
    const floats = tf.tensor2d([[1, 2]], [1, 2], 'float32');
    await expect(greedyDecodeAsync(m, floats)).rejects.toThrow(
      /^greedyDecodeAsync: source must be non-empty int32 token ids \[B, Ts\], but got source \[1,2\]/,
    );
    await expect(beamSearchAsync(m, src, { beamSize: 0 })).rejects.toThrow(/^beamSearchAsync: beamSize must be a positive integer, but got '?0'?/);
    tf.dispose([src, floats]);
    m.dispose();
  });

  it('encode returns per-layer encoder self-attention: rows sum to 1, padding gets none, memory unchanged', async () => {
    const m = model({ numEncoderLayers: 3 });
    const src = source();
    const plain = m.encode(src);
    expect(plain.attention).toBeUndefined();
    const { memory, memoryMask, attention } = m.encode(src, { returnAttention: true });
    expectTensorsClose(memory, plain.memory, { rtol: 0, atol: 0 });
    expect(attention!.length).toBe(3);
    for (const w of attention!) {
      expect(w.shape).toEqual([2, 4, 6, 6]); // [B, H, Ts, Ts]
      const rows = w.arraySync();
      const lengths = [5, 3]; // real tokens of each sentence
      rows.forEach((heads, b) => {
        for (const head of heads) {
          for (const row of head.slice(0, lengths[b])) {
            expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
            for (const v of row.slice(lengths[b])) expect(v).toBe(0);
          }
        }
      });
    }
    // the same sentence without padding attends the same way
    const alone = tf.tensor2d([[8, 9, 10]], [1, 3], 'int32');
    const single = m.encode(alone, { returnAttention: true });
    for (const [l, w] of attention!.entries()) {
      const padded = tf.slice(w, [1, 0, 0, 0], [1, 4, 3, 3]);
      expectTensorsClose(padded, single.attention![l]!, { rtol: 1e-5, atol: 1e-6, label: `layer ${l}` });
      padded.dispose();
    }
    tf.dispose([plain.memory, plain.memoryMask, memory, memoryMask, ...attention!, alone, single.memory, single.memoryMask, ...single.attention!]);
    await expectNoLeak(() => {
      const r = m.encode(src, { returnAttention: true });
      tf.dispose([r.memory, r.memoryMask, ...r.attention!]);
    });
    src.dispose();
    m.dispose();
  });

  it('leaks no tensor over 100 cached steps with beams reordered, nor in beam search', async () => {
    const m = model();
    const src = source();
    await expectNoLeak(() => {
      const { memory, memoryMask } = m.encode(src);
      const state = m.startDecoding(memory, memoryMask);
      let ids = tf.tensor2d([[1], [1]], [2, 1], 'int32');
      for (let t = 0; t < 100; t++) {
        const { logits, attention } = m.decode(ids, { state, returnAttention: t % 10 === 0 });
        const next = tf.tidy(() => tf.cast(tf.argMax(tf.squeeze(logits, [1]), -1), 'int32'));
        tf.dispose([ids, logits, ...(attention ?? []).flatMap((a) => [a.self, a.cross])]);
        ids = tf.reshape(next, [2, 1]) as tf.Tensor2D;
        next.dispose();
        for (const c of [...state.selfCaches, ...state.memoryCaches]) c.reorder([1, 0]);
      }
      expect(state.selfCaches[0]!.length).toBe(100);
      for (const c of [...state.selfCaches, ...state.memoryCaches]) c.dispose();
      tf.dispose([ids, memory, memoryMask]);
    });
    await expectNoLeak(() => beamSearch(m, src, { beamSize: 3, maxLength: 30, returnAttention: true }));
    src.dispose();
    m.dispose();
  });
});

describe('save and load', () => {
  it('a whole Transformer round-trips through tf.io with the same decoded tokens and weights', async () => {
    await tf.setBackend('cpu');
    const m = model({ normFirst: true, shareEmbeddings: true, positional: 'learned', maxLength: 20 });
    let saved: tf.io.ModelArtifacts | null = null;
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await Transformer.load(tf.io.fromMemory(saved!));
    expect(loaded.config).toEqual(m.config);
    const names = m.namedWeights().map((w) => w.name);
    expect(loaded.namedWeights().map((w) => w.name)).toEqual(names);
    expect(new Set(names).size).toBe(names.length);
    const src = source();
    expect(greedyDecode(loaded, src, { maxLength: 6 })).toEqual(greedyDecode(m, src, { maxLength: 6 }));
    const a = m.logits(
      src,
      tf.tensor2d(
        [
          [1, 4],
          [1, 5],
        ],
        [2, 2],
        'int32',
      ),
    );
    const b = loaded.logits(
      src,
      tf.tensor2d(
        [
          [1, 4],
          [1, 5],
        ],
        [2, 2],
        'int32',
      ),
    );
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([src, a, b]);
    m.dispose();
    loaded.dispose();
  });

  it('refuses artifacts that lack a weight, naming it', async () => {
    await tf.setBackend('cpu');
    const m = model();
    let saved: tf.io.ModelArtifacts | null = null;
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const art = saved! as tf.io.ModelArtifacts;
    const specs = art.weightSpecs!.filter((s) => s.name !== 'decoder/1/ffn_output/bias');
    await expect(Transformer.load(tf.io.fromMemory({ ...art, weightSpecs: specs, weightData: art.weightData }))).rejects.toThrow(
      /Transformer\.load: weight decoder\/1\/ffn_output\/bias is missing or has the wrong shape/,
    );
    m.dispose();
  });
});
