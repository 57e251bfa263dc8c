import { fileURLToPath } from 'node:url';
import { useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberPair } from './data/numbers.js';
import {
  BANK_SENTENCES,
  LOW_CONFIDENCE,
  headName,
  inputNotes,
  layerName,
  lookupNumberWords,
  numbersSource,
  outputNotes,
  wordTokens,
  wordWeight,
} from './explain.js';
import { BPETokenizer } from './tokenizer/bpe.js';
import { Translator } from './translator.js';

describe('layer and head names', () => {
  it('number from 1', () => {
    expect(layerName(0)).toBe('layer 1');
    expect(headName(3)).toBe('head 4');
  });
});

describe('wordTokens and wordWeight', () => {
  const tok = BPETokenizer.train(['I deposited money at the bank.', 'We sat by the river bank.', 'banker'], { vocabSize: 40 });

  it('finds every token of a whole word by its spans, case-insensitively, never inside another word', () => {
    const enc = tok.encode('The Bank of the banker, bank.');
    const bank = wordTokens(enc, 'bank');
    // "Bank" (characters 4..8) and the last "bank" (24..28), not "banker" (16..22); a ▁ token's span starts at its space
    const pieces = bank.map((i) => enc.text.slice(enc.spans[i]![0], enc.spans[i]![1]));
    expect(pieces.join('').replaceAll(' ', '').toLowerCase()).toBe('bankbank');
    for (const i of bank) {
      const [start, end] = enc.spans[i]!;
      expect((start >= 3 && end <= 8) || (start >= 23 && end <= 28), `span ${start}..${end}`).toBe(true);
    }
    expect(wordTokens(enc, 'river')).toEqual([]);
  });

  it('weighs word on word as the mean over the first word of the summed weight on the second', () => {
    const w = [
      [0.5, 0.25, 0.25],
      [0.1, 0.6, 0.3],
      [0.2, 0.2, 0.6],
    ];
    expect(wordWeight(w, [0], [1, 2])).toBeCloseTo(0.5, 12);
    expect(wordWeight(w, [1, 2], [0])).toBeCloseTo(0.15, 12);
    expect(wordWeight(w, [], [0])).toBeNaN();
  });

  it('finds bank and its context in both seed sentences', () => {
    for (const s of BANK_SENTENCES) {
      const enc = tok.encode(s.text);
      expect(wordTokens(enc, s.word).length, s.text).toBeGreaterThan(0);
      expect(wordTokens(enc, s.context).length, s.text).toBeGreaterThan(0);
    }
  });
});

describe('numbersSource', () => {
  it('spells digits out, accepts any case and spacing, and flags text that is not number words', () => {
    expect(numbersSource('4,721')).toMatchObject({ words: numberPair(4721).en, reference: numberPair(4721).de, known: true });
    expect(numbersSource('  Twenty-NINE ')).toMatchObject({ words: 'twenty-nine', reference: 'neunundzwanzig', known: true });
    expect(numbersSource('12000')).toMatchObject({ words: numberPair(12000).en, known: false });
    expect(numbersSource('hello World')).toMatchObject({ words: 'hello world', reference: null, known: false });
    expect(numbersSource('1000000')).toEqual({ refusal: '1000000 is too large: this app spells numbers up to 999,999.' });
    expect(lookupNumberWords('ONE   HUNDRED')?.n).toBe(100);
  });
});

describe('inputNotes', () => {
  let numbers: Translator;
  let sentences: Translator;
  beforeAll(async () => {
    await useBackend('cpu');
    const loaded = Translator.load(fileURLToPath(new URL('../checkpoints/numbers.ckpt', import.meta.url)));
    tf.dispose(Object.values(loaded.extra));
    numbers = loaded.translator;
    const tok = BPETokenizer.train(['The house is old.', 'Das Haus ist alt.', 'It is 3.'], { vocabSize: 60 });
    sentences = Translator.create(tok, { task: 'ding', size: 'tiny', seed: 1, maxSourceTokens: 16 });
  });
  afterAll(() => {
    numbers.dispose();
    sentences.dispose();
  });

  it('is empty for input the model knows', () => {
    expect(inputNotes(numbers, 'twenty-nine')).toEqual([]);
    expect(inputNotes(sentences, 'The house is old.')).toEqual([]);
  });

  it('names characters outside the alphabet with their code points', () => {
    expect(inputNotes(numbers, 'twenty-nine ☃')).toEqual([
      'Unknown to the model: “☃” (U+2603); it reads this character as <unk>, so the translation may drop or garble it.',
    ]);
    expect(inputNotes(sentences, 'The house is Ωld €.')[0]).toMatch(/^Unknown to the model: “Ω” \(U\+03A9\), “€” \(U\+20AC\); it reads these characters/);
  });

  it('flags digits for the sentence model only, and inputs that will be cut', () => {
    expect(inputNotes(sentences, 'The house is 3.')).toEqual([
      'Digits: the sentence model saw few numbers written with digits; it may drop or change them (check the numbers in the output).',
    ]);
    expect(inputNotes(numbers, 'one two')).toEqual([]);
    expect(inputNotes(sentences, 'The house is old. '.repeat(6))).toEqual([
      expect.stringMatching(/^Too long: \d+ tokens, but the model reads at most 16; the rest was cut off\.$/),
    ]);
  });
});

describe('confidence and outputNotes', () => {
  let numbers: Translator;
  let untrained: Translator;
  beforeAll(async () => {
    await useBackend('cpu');
    const loaded = Translator.load(fileURLToPath(new URL('../checkpoints/numbers.ckpt', import.meta.url)));
    tf.dispose(Object.values(loaded.extra));
    numbers = loaded.translator;
    const tok = BPETokenizer.train(['The house is old.', 'Das Haus ist alt.'], { vocabSize: 60 });
    untrained = Translator.create(tok, { task: 'ding', size: 'tiny', seed: 2, maxSourceTokens: 16 });
  });
  afterAll(() => {
    numbers.dispose();
    untrained.dispose();
  });

  it('is the geometric mean token probability: greedy exp(score / tokens), beam the same for the same output', () => {
    const [greedy] = numbers.translate(['four thousand seven hundred twenty-one']);
    const [beam] = numbers.translate(['four thousand seven hundred twenty-one'], { beamSize: 4 });
    expect(greedy!.output).toBe(numberPair(4721).de);
    expect(greedy!.confidence).toBeCloseTo(Math.exp(greedy!.score / greedy!.targetTokens.length), 12);
    expect(greedy!.confidence).toBeGreaterThan(0.9); // a trained model on its own task
    expect(beam!.output).toBe(greedy!.output);
    expect(beam!.confidence).toBeCloseTo(greedy!.confidence, 5); // the beam's length penalty is undone
    expect(outputNotes(greedy!)).toEqual([]);
  });

  it('flags an unsure output as a guess', () => {
    const [t] = untrained.translate(['The house is old.'], { maxLength: 8 });
    expect(t!.confidence).toBeLessThan(LOW_CONFIDENCE); // random weights over 60 tokens
    expect(outputNotes(t!)).toEqual([
      `Low confidence: the model gave its own output tokens a mean probability of ${t!.confidence.toFixed(2)} (below 0.5); treat this translation as a guess.`,
    ]);
    expect(outputNotes({ confidence: 0.5 })).toEqual([]);
    expect(outputNotes({ confidence: Number.NaN })).toEqual([]);
  });
});
