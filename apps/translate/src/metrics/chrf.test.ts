// Expected numbers come from sacreBLEU itself (mjpost/sacrebleu), never from this code:
// - README.md, "Using SacreBLEU from Python": `CHRF().corpus_score(sys, refs)` → `chrF2 = 59.73`.
// - test/test_chrf.py: `test_cases` (beta=3, eps_smoothing=True), `test_cases_effective_order`
//   (beta=3, eps_smoothing=False), `test_cases_keep_whitespace` (beta=3, whitespace kept) and
//   `test_sentence_level_chrf` (sentence_chrf with defaults and eps_smoothing=True), all with
//   tolerance 1e-4 as there.
import { describe, expect, it } from 'vitest';
import { corpusChrf, formatChrf } from './chrf.js';

const refs = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const sys = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];
const EPS = 1e-4;

describe('corpusChrf', () => {
  it("reproduces sacreBLEU's README example (chrF2, two references)", () => {
    expect(formatChrf(corpusChrf(sys, refs))).toBe('chrF2 = 59.73');
  });

  it("matches test_chrf.py's epsilon-smoothing cases", () => {
    const cases: [string[], string[], number][] = [
      [['abcdefg'], ['hijklmnop'], 0.0],
      [['a'], ['b'], 0.0],
      [[''], ['b'], 0.0],
      [[''], ['ref'], 0.0],
      [[''], ['reference'], 0.0],
      [['aa'], ['ab'], 8.3333],
      [['a', 'b'], ['a', 'c'], 8.3333],
      [['a'], ['a'], 16.6667],
      [['a b c'], ['a b c'], 50.0],
      [['a b c'], ['abc'], 50.0],
      [
        [' risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .'],
        ['risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .'],
        63.36173,
      ],
      [
        [' Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. '],
        ['Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.'],
        64.1302698,
      ],
      [['Niemand hat die Absicht, eine Mauer zu errichten'], ['Niemand hat die Absicht, eine Mauer zu errichten'], 100.0],
    ];
    for (const [hyp, ref, expected] of cases) {
      expect(Math.abs(corpusChrf(hyp, [ref], { beta: 3, epsSmoothing: true }).score - expected), `${hyp} vs ${ref}`).toBeLessThan(EPS);
    }
  });

  it("matches test_chrf.py's effective-order cases", () => {
    const cases: [string[], string[], number][] = [
      [['a'], ['a'], 100.0],
      [[''], ['reference'], 0.0],
      [['a b c'], ['a b c'], 100.0],
      [['a b c'], ['abc'], 100.0],
      [[''], ['c'], 0.0],
      [['a', 'b'], ['a', 'c'], 50.0],
      [['aa'], ['ab'], 25.0],
    ];
    for (const [hyp, ref, expected] of cases) {
      expect(Math.abs(corpusChrf(hyp, [ref], { beta: 3 }).score - expected), `${hyp} vs ${ref}`).toBeLessThan(EPS);
    }
  });

  it("matches test_chrf.py's keep-whitespace cases", () => {
    const de = corpusChrf(
      ['Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.'],
      [['Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.']],
      { beta: 3, whitespace: true },
    );
    expect(Math.abs(de.score - 67.3481606)).toBeLessThan(EPS);
    const en = corpusChrf(
      ['risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .'],
      [['risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .']],
      { beta: 3, whitespace: true },
    );
    expect(Math.abs(en.score - 65.2414427)).toBeLessThan(EPS);
  });

  it("matches test_chrf.py's sentence-level cases (non-ASCII text)", () => {
    const cases: [string, string, number][] = [
      [
        'Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.',
        'Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.',
        39.14078509,
      ],
      [
        'Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.',
        'A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.',
        31.22557079,
      ],
      [
        'Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.',
        'Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.',
        57.15704367,
      ],
    ];
    for (const [hyp, ref, expected] of cases) {
      expect(Math.abs(corpusChrf([hyp], [[ref]], { epsSmoothing: true }).score - expected)).toBeLessThan(EPS);
    }
  });

  it('refuses misaligned streams', () => {
    expect(() => corpusChrf(['a'], [['a', 'b']])).toThrow(/corpusChrf: reference stream 0 must have one line per hypothesis/);
  });
});
