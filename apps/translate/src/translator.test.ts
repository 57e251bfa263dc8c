import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { numberPair } from './data/numbers.js';
import { evaluate } from './evaluate.js';
import { loadTask } from './tasks.js';
import { BPETokenizer } from './tokenizer/bpe.js';
import { Translator, averageHeads } from './translator.js';

const shipped = fileURLToPath(new URL('../checkpoints/numbers.ckpt', import.meta.url));

describe('Translator', () => {
  beforeAll(() => useBackend('wasm'));

  it('round-trips through a checkpoint with the same translations and attention', async () => {
    const pairs = [1, 29, 345, 4721].map(numberPair);
    const tokenizer = BPETokenizer.train(
      pairs.flatMap((p) => [p.en, p.de]),
      { vocabSize: 40 },
    );
    const t = Translator.create(tokenizer, { task: 'numbers', size: 'tiny', seed: 5, maxSourceTokens: 12 });
    const dir = mkdtempSync(join(tmpdir(), 'attnkit-translator-'));
    const path = join(dir, 'model.ckpt');
    await t.save(path, { trainingData: ['numbers'] });
    const { translator, metadata, extra } = Translator.load(path);
    expect(metadata.trainingData).toEqual(['numbers']);
    expect(Object.keys(extra)).toEqual([]);
    const texts = pairs.map((p) => p.en);
    const [a, b] = [t.translate(texts, { returnAttention: true, maxLength: 6 }), translator.translate(texts, { returnAttention: true, maxLength: 6 })];
    expect(b).toEqual(a);
    // attention has the documented layout: [layer][head][target][source], rows summing to 1
    const cross = a[3]!.cross!;
    expect(cross.length).toBe(2);
    expect(cross[0]!.length).toBe(4);
    expect(cross[0]![0]!.length).toBe(a[3]!.targetTokens.length);
    expect(cross[0]![0]![0]!.length).toBe(a[3]!.sourceTokens.length);
    for (const row of averageHeads(cross[1]!)) expect(row.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 5);
    t.dispose();
    translator.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('cuts over-long inputs to maxSourceTokens and says so, without failing', () => {
    const tokenizer = BPETokenizer.train(['one two three', 'eins zwei drei'], { vocabSize: 30 });
    const t = Translator.create(tokenizer, { task: 'numbers', size: 'tiny', seed: 1, maxSourceTokens: 8 });
    const [r] = t.translate([`  one\u00a0two   three ${'three '.repeat(200)}`], { maxLength: 3 });
    expect(r!.truncated).toBe(true);
    expect(r!.sourceTokens.length).toBe(8);
    expect(r!.sourceTokens.at(-1)).toBe('<eos>');
    expect(r!.source.startsWith('one two three three')).toBe(true);
    t.dispose();
  });

  it('the shipped numbers model translates held-out numbers (≥ 95% exact on 100 of them)', () => {
    const { translator, extra } = Translator.load(shipped);
    tf.dispose(Object.values(extra));
    const test = loadTask('numbers').test.slice(0, 100);
    const result = evaluate(translator, test, { task: 'numbers' });
    expect(result.exactMatch).toBeGreaterThanOrEqual(95);
    translator.dispose();
  });
});
