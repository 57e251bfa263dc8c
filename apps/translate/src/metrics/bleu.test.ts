// Expected numbers come from sacreBLEU itself (mjpost/sacrebleu), never from this code:
// - README.md, "Using SacreBLEU from Python": the `refs`/`sys` example, printed as
//   `BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)`,
//   and with the first reference of the first stream removed (variable number of references):
//   `BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)`.
// - test/test_bleu.py: `test_corpus_bleu_cases` (48.530827 default, 49.1919566 with
//   tokenize='none', 0.0 for empty hypotheses), `test_case_statistics` (counts/totals) and
//   `test_case_scoring` (0.8375922397 from raw statistics).
import { describe, expect, it } from 'vitest';
import { bleuFromStats, corpusBleu, formatBleu, tokenize13a } from './bleu.js';

const refs = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const sys = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

describe('corpusBleu (sacreBLEU defaults)', () => {
  it("reproduces sacreBLEU's README example exactly", () => {
    const r = corpusBleu(sys, refs);
    expect(formatBleu(r)).toBe('BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)');
    expect(Math.abs(r.score - 48.530827)).toBeLessThan(1e-6);
  });

  it('reproduces the README example with a variable number of references', () => {
    const varRefs = [[null, ...refs[0]!.slice(1)], refs[1]!];
    expect(formatBleu(corpusBleu(sys, varRefs))).toBe('BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)');
  });

  it("matches test_bleu.py's corpus cases", () => {
    expect(Math.abs(corpusBleu(sys, refs, { tokenize: 'none' }).score - 49.1919566)).toBeLessThan(1e-6);
    expect(Math.abs(corpusBleu(sys, refs, { tokenize: '13a' }).score - 48.530827)).toBeLessThan(1e-6);
    expect(corpusBleu(['', '', ''], refs).score).toBe(0);
  });

  it("matches test_bleu.py's n-gram statistics", () => {
    const r = corpusBleu(['am I am a character sequence'], [['I am a symbol string sequence a a']]);
    expect(r.counts).toEqual([4, 2, 1, 0]);
    expect(r.totals).toEqual([6, 5, 4, 3]);
  });

  it("matches test_bleu.py's scoring from raw statistics", () => {
    expect(Math.abs(bleuFromStats([9, 7, 5, 3], [10, 8, 6, 4], 11, 11).score / 100 - 0.8375922397)).toBeLessThan(1e-8);
  });

  it('gives 100 for a perfect corpus and refuses misaligned streams', () => {
    expect(corpusBleu(['Das ist ein kleiner Test.'], [['Das ist ein kleiner Test.']]).score).toBeCloseTo(100, 10);
    expect(() => corpusBleu(['a', 'b'], [['a']])).toThrow(
      /corpusBleu: reference stream 0 must have one line per hypothesis, but got hypotheses \[2\] and references\[0\] \[1\]/,
    );
  });
});

describe('tokenize13a', () => {
  // Expected strings worked out by hand from mteval-v13a's rules.
  it('splits punctuation but keeps decimal numbers and splits a dash after a digit', () => {
    expect(tokenize13a('Hello, world!')).toBe('Hello , world !');
    expect(tokenize13a('It costs 3.50 (or 1,000).')).toBe('It costs 3.50 ( or 1,000 ) .');
    expect(tokenize13a('pages 10-20')).toBe('pages 10 - 20');
    expect(tokenize13a("wasn't")).toBe("wasn't");
    expect(tokenize13a('a &amp; b')).toBe('a & b');
  });
});
