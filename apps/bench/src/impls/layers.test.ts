import { attentionOracle } from '@attnkit/test-utils/oracle';
import { randomValues } from '@attnkit/test-utils/random';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../args.js';
import { expandMatrix } from '../matrix.js';
import type { Problem } from '../registry.js';
import { maxAbsDiff } from '../stats.js';
import type { BenchConfig } from '../types.js';
import { attnkitDecoder, decoderFlops, sourceIds, unusedId } from './attnkit-decoder.js';
import { attnkitMha } from './attnkit-mha.js';
import { IMPLEMENTATION_LIST } from './index.js';
import { type LayerWeights, layerFlops, layerOracle } from './layer-oracle.js';

const plan = (...argv: string[]) => expandMatrix(parseArgs(argv), IMPLEMENTATION_LIST).filter((p) => p.config.mode !== 'matmul');

function problem(over: Partial<BenchConfig>): Problem {
  const [planned] = plan('--impls', 'attnkit-mha', '--backends', 'cpu');
  const config: BenchConfig = { ...planned!.config, ...over };
  const { B, H, Hkv, T, d } = config;
  return { config, T, q: randomValues(B * H * T * d, 1), k: randomValues(B * Hkv * T * d, 2), v: randomValues(B * Hkv * T * d, 3) };
}

describe('matrix entries of the layer and model implementations', () => {
  it('puts attnkit-mha beside tfjs-layers-mha, runnable where the tfjs-layers one is not', () => {
    const entries = plan('--impls', 'attnkit-mha,tfjs-layers-mha', '--backends', 'cpu,wasm', '--modes', 'forward,backward', '--T', '128', '--d', '64');
    const reason = (impl: string, backend: string, mode: string) =>
      entries.find((p) => p.config.impl === impl && p.config.backend === backend && p.config.mode === mode)?.reason;
    for (const backend of ['cpu', 'wasm']) for (const mode of ['forward', 'forward+backward']) expect(reason('attnkit-mha', backend, mode)).toBeNull();
    expect(reason('tfjs-layers-mha', 'cpu', 'forward')).toBeNull();
    expect(reason('tfjs-layers-mha', 'wasm', 'forward')).toMatch(/Einsum/);
    expect(reason('tfjs-layers-mha', 'cpu', 'forward+backward')).toMatch(/gradient/);
    expect(entries).toHaveLength(8);
  });

  it('runs attnkit-mha with GQA but not with a window; it is not in the attnkit family', () => {
    const entries = plan('--impls', 'attnkit-mha', '--backends', 'cpu', '--Hkv', '2', '--window', 'none,16', '--T', '64');
    expect(entries.map((p) => [p.config.window, p.reason])).toEqual([
      [null, null],
      [16, 'MultiHeadAttention has no sliding-window option'],
    ]);
    expect(plan('--impls', 'attnkit', '--backends', 'cpu').map((p) => p.config.impl)).not.toContain('attnkit-mha');
  });

  it('lets the decoder generate more tokens than its source length, in the decode modes only', () => {
    const entries = plan(
      '--impls',
      'attnkit-decoder',
      '--backends',
      'wasm',
      '--modes',
      'decode,forward',
      '--H',
      '4',
      '--d',
      '64',
      '--T',
      '64',
      '--decode-steps',
      '128',
    );
    expect(entries.map((p) => [p.config.mode, p.config.T, p.config.decodeSteps, p.reason])).toEqual([
      ['decode-kv-cache', 64, 128, null],
      ['decode-no-cache', 64, 128, null],
      ['forward', 64, 128, 'attnkit-decoder has no forward mode'],
    ]);
    // attention-level decoding still needs T past the generated tokens
    const attention = plan('--impls', 'attnkit:auto', '--backends', 'wasm', '--modes', 'decode-kv-cache', '--T', '64', '--decode-steps', '128');
    expect(attention[0]!.reason).toBe('T=64 must exceed the 128 decode steps');
    const gqa = plan('--impls', 'attnkit-decoder', '--backends', 'wasm', '--modes', 'decode', '--Hkv', '2', '--T', '64');
    expect(gqa[0]!.reason).toBe('the Transformer has no grouped-query attention option');
  });
});

describe('FLOP counts', () => {
  it('counts a layer as attention plus its four projections, 3x with the backward', () => {
    // B=1, H=2, Hkv=1, T=3, d=2: M=4; q and out 2·3·4·4 each, k and v 2·3·4·2 each = 288; attention 4·2·3·3·2 = 144
    const c = { B: 1, H: 2, Hkv: 1, T: 3, d: 2 };
    expect(layerFlops({ ...c, mode: 'forward' })).toBe(432);
    expect(layerFlops({ ...c, mode: 'forward+backward' })).toBe(3 * 432);
  });

  it('counts one more cached decoder step by hand, and more work without the cache', () => {
    // D = 2, F = 8, V = 1000, 3 layers, Ts = 5; the step added by decodeSteps 1 → 2 runs one position over 3 keys:
    // embedding 2·1000·2 = 4000; per layer self proj 4·2·2·2 = 32, self scores 4·3·2 = 24, cross q/out 16,
    // cross scores 4·5·2 = 40, ff 2·2·8·2 = 64 → 176 (×3 = 528); output 2·2·1000 = 4000: 8528 in all
    const c = { B: 1, H: 1, d: 2, T: 5, mode: 'decode-kv-cache' as const };
    expect(decoderFlops({ ...c, decodeSteps: 2 }) - decoderFlops({ ...c, decodeSteps: 1 })).toBe(8528);
    expect(decoderFlops({ ...c, decodeSteps: 2, B: 3 })).toBe(3 * decoderFlops({ ...c, decodeSteps: 2 }));
    expect(decoderFlops({ ...c, decodeSteps: 8, mode: 'decode-no-cache' })).toBeGreaterThan(2 * decoderFlops({ ...c, decodeSteps: 8 }));
  });
});

describe('decoder helpers', () => {
  it('draws seeded word ids, never padding, BOS or the default EOS', () => {
    const ids = sourceIds(2, 50);
    expect(ids.map((r) => r.length)).toEqual([50, 50]);
    expect(ids.flat().every((id) => Number.isInteger(id) && id >= 3 && id < 1000)).toBe(true);
    expect(new Set(ids.flat()).size).toBeGreaterThan(40);
    expect(sourceIds(2, 50)).toEqual(ids);
  });

  it('bans as EOS the smallest word id the model never picked', () => {
    expect(unusedId(new Set([3, 4, 6]), 1000)).toBe(5);
    expect(unusedId(new Set([7]), 1000)).toBe(3);
    expect(() => unusedId(new Set([3, 4]), 5)).toThrow(/picked every id/);
  });
});

describe('the layer oracle', () => {
  it('is plain attention over the heads when every projection is the identity', () => {
    // M = H·d = 4, identity kernels [M, M] and zero biases: y = attention of x split into heads, merged back.
    const [B, H, T, d] = [1, 2, 3, 2];
    const M = H * d;
    const eye = Float64Array.from({ length: M * M }, (_, i) => (i % (M + 1) === 0 ? 1 : 0));
    const zero = new Float64Array(M);
    const x = randomValues(B * T * M, 5);
    const y = layerOracle(x, [eye, zero, eye, zero, eye, zero, eye, zero] as LayerWeights, { B, H, Hkv: H, T, d, causal: true });
    const heads = Float64Array.from({ length: B * H * T * d }, (_, i) => {
      const [h, t, e] = [Math.floor(i / (T * d)), Math.floor(i / d) % T, i % d];
      return x[t * M + h * d + e]!; // [B, H, T, d] from [B, T, M]
    });
    const shape = [B, H, T, d];
    const { output } = attentionOracle({ query: { data: heads, shape }, key: { data: heads, shape }, value: { data: heads, shape }, causal: true });
    const merged = Float64Array.from({ length: B * T * M }, (_, i) => {
      const [t, h, e] = [Math.floor(i / M), Math.floor((i % M) / d), i % d];
      return output.data[(h * T + t) * d + e]!;
    });
    expect(maxAbsDiff(y, merged)).toBeLessThan(1e-12);
    // the first query attends only to itself: its output is its own value
    expect(maxAbsDiff(y.subarray(0, M), Float64Array.from(x.subarray(0, M)))).toBeLessThan(1e-12);
  });
});

describe('sessions on tfjs cpu (tiny sizes)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('attnkit-mha matches the float64 layer oracle with GQA and a causal mask, and leaks nothing', async () => {
    for (const mode of ['forward', 'forward+backward'] as const) {
      const p = problem({ B: 2, H: 4, Hkv: 2, T: 5, d: 3, causal: true, mode });
      const before = tf.memory().numTensors;
      const session = await attnkitMha.setup(p);
      await session.run();
      const y = await session.output();
      expect(y).toHaveLength(2 * 5 * 12);
      expect(maxAbsDiff(y, await attnkitMha.oracle!(p, session))).toBeLessThan(1e-5);
      session.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('attnkit-decoder generates every token with and without caches, with the same scores as teacher forcing', async () => {
    const tokens: number[][][] = [];
    for (const mode of ['decode-kv-cache', 'decode-no-cache'] as const) {
      const p = problem({ B: 2, H: 2, Hkv: 2, T: 4, d: 4, mode, decodeSteps: 6 });
      const before = tf.memory().numTensors;
      const session = await attnkitDecoder.setup(p);
      const scores = await session.output();
      expect(scores).toHaveLength(2);
      const s = session as unknown as { tokens: number[][]; model: { config: { eosId: number } } };
      expect(s.tokens.map((t) => t.length)).toEqual([6, 6]);
      expect(s.tokens.flat()).not.toContain(s.model.config.eosId);
      expect(maxAbsDiff(scores, await attnkitDecoder.oracle!(p, session))).toBeLessThan(1e-4);
      tokens.push(s.tokens);
      session.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    // same seed, same source: incremental and recomputed decoding pick the same tokens
    expect(tokens[1]).toEqual(tokens[0]);
  });
});
