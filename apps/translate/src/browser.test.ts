import { readFileSync } from 'node:fs';
import { describeEachBackend, expectNoLeak } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkInput, encoderAttention, translatorFromBytes } from './browser.js';
import { loadCheckpoint } from './checkpoint.js';
import { parseCheckpoint, serializeCheckpoint } from './checkpoint-format.js';
import { numberPair } from './data/numbers.js';
import { BPETokenizer } from './tokenizer/bpe.js';
import { Translator } from './translator.js';

const words = Array.from({ length: 200 }, (_, n) => numberPair(n * 37));
const tokenizer = BPETokenizer.train(
  words.flatMap((p) => [p.en, p.de]),
  { vocabSize: 120 },
);
const texts = ['twenty-nine', 'four thousand seven hundred twenty-one', 'one'];

describeEachBackend('the browser path (bytes → translator → translations and attention)', () => {
  let original: Translator;
  let bytes: Uint8Array;

  beforeAll(async () => {
    original = Translator.create(tokenizer, { task: 'numbers', size: 'tiny', seed: 5, maxSourceTokens: 16 });
    const weights: tf.NamedTensorMap = { 'optimizer/0': tf.ones([3]) };
    for (const { name, variable } of original.model.namedWeights()) weights[name] = variable.read();
    const parts = await serializeCheckpoint({ config: original.config as never, tokenizer, metadata: { trainingData: ['numbers'], step: 3 }, weights });
    bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    weights['optimizer/0']!.dispose();
  });

  afterAll(() => original.dispose());

  it('translatorFromBytes gives the same translations as the model it was saved from; translateAsync equals translate', async () => {
    const { translator, metadata } = translatorFromBytes(bytes, 'model.ckpt');
    expect(metadata.step).toBe(3);
    const options = { returnAttention: true, maxLength: 8 };
    const expected = original.translate(texts, options);
    expect(translator.translate(texts, options)).toEqual(expected);
    expect(await translator.translateAsync(texts, options)).toEqual(expected);
    expect(await translator.translateAsync(texts, { beamSize: 2, maxLength: 8 })).toEqual(translator.translate(texts, { beamSize: 2, maxLength: 8 }));
    translator.dispose();
  });

  it('loads and disposes without leaking: unused optimizer tensors are dropped', async () => {
    await expectNoLeak(async () => {
      const { translator } = translatorFromBytes(bytes, 'model.ckpt');
      await translator.translateAsync(['twenty-nine'], { returnAttention: true, maxLength: 4 });
      await encoderAttention(translator, 'twenty-nine');
      translator.dispose();
    });
  });

  it('encoderAttention: per layer and head, one row per source token summing to 1', async () => {
    const { sourceTokens, weights } = await encoderAttention(original, texts[1]!);
    expect(sourceTokens).toEqual(original.translate([texts[1]!])[0]!.sourceTokens);
    expect(weights.length).toBe(2); // tiny: 2 encoder layers
    for (const layer of weights) {
      expect(layer.length).toBe(4); // heads
      for (const head of layer) {
        expect(head.length).toBe(sourceTokens.length);
        for (const row of head) {
          expect(row.length).toBe(sourceTokens.length);
          expect(row.reduce((a, w) => a + w, 0)).toBeCloseTo(1, 5);
        }
      }
    }
  });

  it('checkInput refuses empty, over-long (tokens) and huge (characters) inputs, saying why', () => {
    expect(checkInput(original, '  ')).toEqual({ tokens: 0, refusal: 'Type a number or English number words first.' });
    const ok = checkInput(original, 'twenty-nine');
    expect(ok.refusal).toBeNull();
    expect(ok.tokens).toBe(original.encodeSource('twenty-nine').ids.length);
    const long = 'twenty-nine '.repeat(8);
    const tokens = tokenizer.encode(long, { eos: true }).ids.length;
    expect(tokens).toBeGreaterThan(16);
    expect(checkInput(original, long)).toEqual({
      tokens,
      refusal: `This input is too long: ${tokens} tokens, but the model reads at most 16 tokens (128 characters). Shorten it and try again.`,
    });
    expect(checkInput(original, 'x'.repeat(200)).refusal).toBe(
      'This input is too long: 200 characters, but the model reads at most 16 tokens (128 characters). Shorten it and try again.',
    );
    expect(checkInput(original, 'x'.repeat(5000)).refusal).toMatch(/^This input is too long: 5000 characters/);
  });

  it('parseCheckpoint reads what loadCheckpoint reads and names the checkpoint in its errors', () => {
    const damaged = bytes.slice();
    damaged[damaged.length - 1]! ^= 1;
    expect(() => parseCheckpoint(damaged, 'https://host/model.ckpt')).toThrow(
      /^parseCheckpoint: https:\/\/host\/model\.ckpt: weights are corrupted: SHA-256 should be [0-9a-f]{64}, but got '[0-9a-f]{64}'/,
    );
    expect(() => translatorFromBytes(bytes.subarray(0, 40), 'cut.ckpt')).toThrow(
      /^translatorFromBytes: cut\.ckpt: file is truncated: the 48-byte prefix is incomplete/,
    );
  });
});

it('the shipped checkpoint parses the same from bytes as from its file', () => {
  const path = new URL('../checkpoints/numbers.ckpt', import.meta.url);
  const fromFile = loadCheckpoint(path.pathname);
  const fromBytes = parseCheckpoint(new Uint8Array(readFileSync(path)), 'numbers.ckpt');
  expect(fromBytes.config).toEqual(fromFile.config);
  expect(Object.keys(fromBytes.weights)).toEqual(Object.keys(fromFile.weights));
  tf.dispose([...Object.values(fromFile.weights), ...Object.values(fromBytes.weights)]);
});
