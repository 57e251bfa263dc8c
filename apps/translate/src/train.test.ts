import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { registerFusedAttention, registerTrainingKernels } from '@attnkit/kernels';
import { useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededShuffle } from './util.js';
import { bucketBatches, epochSchedule, learningRate, train } from './train.js';
import { Translator } from './translator.js';

describe('learning-rate schedule', () => {
  it('rises linearly to d^-0.5 · warmup^-0.5 at the warm-up step, then falls as step^-0.5', () => {
    const d = 64;
    const w = 400;
    expect(learningRate(400, d, w)).toBeCloseTo(0.125 * 0.05, 12);
    expect(learningRate(100, d, w) / learningRate(200, d, w)).toBeCloseTo(0.5, 12);
    expect(learningRate(1600, d, w) / learningRate(400, d, w)).toBeCloseTo(0.5, 12);
    expect(learningRate(400, d, w, 2)).toBeCloseTo(2 * learningRate(400, d, w), 12);
  });
});

describe('length-bucketed batches', () => {
  it('cover every example once, each batch holding neighbours in length', () => {
    const examples = Array.from({ length: 37 }, (_, i) => ({ src: Array(1 + ((i * 7) % 11)).fill(5), tin: [1], tout: Array(1 + ((i * 3) % 5)).fill(5) }));
    const batches = bucketBatches(examples, 8);
    expect(batches.map((b) => b.length)).toEqual([8, 8, 8, 8, 5]);
    expect(batches.flat().sort((a, b) => a - b)).toEqual(examples.map((_, i) => i));
    const len = (i: number) => examples[i]!.src.length + examples[i]!.tout.length;
    for (let k = 1; k < batches.length; k++) expect(Math.min(...batches[k]!.map(len))).toBeGreaterThanOrEqual(Math.max(...batches[k - 1]!.map(len)));
  });
});

describe('epoch schedule with dictionary pairs', () => {
  const examples = Array.from({ length: 50 }, (_, i) => ({ src: Array(1 + (i % 7)).fill(5), tin: [1], tout: Array(1 + (i % 3)).fill(5) }));

  it('with one part, is the length-bucketed batches in a seeded order per epoch', () => {
    const s = epochSchedule(examples, 20, 1, 8, 3);
    const batches = bucketBatches(examples, 8);
    expect(s.cycle).toBe(batches.length);
    for (let step = 1; step <= 2 * batches.length; step++) {
      const epoch = Math.floor((step - 1) / batches.length);
      expect(s.batchAt(step)).toEqual(seededShuffle(batches, 3 * 7919 + epoch)[(step - 1) % batches.length]);
    }
  });

  it('with K parts, every epoch holds every sentence once and a K-th of the dictionary pairs, each pair once per K epochs', () => {
    const s = epochSchedule(examples, 20, 3, 8, 3);
    const seen = new Map<number, number>();
    let step = 1;
    for (let epoch = 0; epoch < 3; epoch++) {
      const inEpoch: number[] = [];
      // an epoch ends when every sentence has been seen once more
      while (inEpoch.filter((i) => i < 20).length < 20) inEpoch.push(...s.batchAt(step++));
      expect(new Set(inEpoch).size).toBe(inEpoch.length);
      expect(inEpoch.filter((i) => i >= 20).length).toBe(10);
      for (const i of inEpoch) seen.set(i, (seen.get(i) ?? 0) + 1);
    }
    expect(step - 1).toBe(s.cycle);
    for (let i = 0; i < 50; i++) expect(seen.get(i), `example ${i}`).toBe(i < 20 ? 3 : 1);
  });
});

describe('training', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('wasm');
    // as the CLI runs (src/cli/backend.ts): fused attention with its own dropout, the training kernels
    await registerFusedAttention();
    await registerTrainingKernels();
    dir = mkdtempSync(join(tmpdir(), 'attnkit-train-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const weights = (path: string) => {
    const { translator, extra } = Translator.load(path);
    const values = translator.model.namedWeights().map((w) => Array.from(w.variable.read().dataSync()));
    tf.dispose(Object.values(extra));
    translator.dispose();
    return values;
  };

  it('resumes after an interruption exactly where an uninterrupted run would be, dropout included', async () => {
    const common = {
      task: 'numbers' as const,
      size: 'tiny' as const,
      batchSize: 8,
      dropout: 0.1, // its patterns follow from the seed and the step
      evalEvery: 1000,
      devLimit: 4,
      vocabSize: 60,
      seed: 3,
      log: () => {},
    };
    const straight = join(dir, 'straight.ckpt');
    await train({ ...common, out: straight, steps: 6 });
    // interrupted after 3 steps (as Ctrl-C does), then resumed to 6
    const resumed = join(dir, 'resumed.ckpt');
    let calls = 0;
    const first = await train({ ...common, out: resumed, steps: 6, shouldStop: () => ++calls > 3 });
    expect(first.step).toBe(3);
    const second = await train({ ...common, out: resumed, steps: 6, resume: true });
    expect(second.step).toBe(6);
    const [a, b] = [weights(straight), weights(resumed)];
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) expect(b[i]).toEqual(a[i]);
    // and the six steps did move the weights away from the seeded initial ones
    const initial = join(dir, 'initial.ckpt');
    await train({ ...common, out: initial, steps: 0 });
    const start = weights(initial);
    expect(a.filter((w, i) => JSON.stringify(w) !== JSON.stringify(start[i])).length).toBeGreaterThan(a.length / 2);
  });

  it('refuses to resume with other data options than the run it continues, naming them', async () => {
    const common = { task: 'numbers' as const, size: 'tiny' as const, batchSize: 8, dropout: 0, evalEvery: 1000, devLimit: 2, vocabSize: 60, log: () => {} };
    const path = join(dir, 'options.ckpt');
    await train({ ...common, out: path, steps: 1, seed: 3 });
    await expect(train({ ...common, out: path, steps: 2, seed: 4, resume: true })).rejects.toThrow(
      `train: --resume of ${path}: it was trained with seed 3, but this run has 4; resume with the options it was started with`,
    );
    await expect(train({ ...common, out: path, steps: 2, seed: 3, dictionary: true })).rejects.toThrow(
      "train: the dictionary pairs belong to the ding task, but the task is 'numbers'",
    );
  });
});
