import { describe, expect, it } from 'vitest';
import { MAX_NUMBER, alignmentAccuracy, numberPair, numberPairs, pieceAlignment, splitNumbers, tokenAlignment, type TokenSpan } from './numbers.js';

/** Character-level spans: one token per non-space character, plus a final `<eos>` (null). */
function charSpans(text: string): TokenSpan[] {
  const spans: TokenSpan[] = [];
  for (let i = 0; i < text.length; i++) if (text[i] !== ' ') spans.push([i, i + 1]);
  return [...spans, null];
}

describe('numbers task', () => {
  it('pairs English and German number words (German puts units before tens)', () => {
    expect(numberPair(0)).toMatchObject({ en: 'zero', de: 'null' });
    expect(numberPair(29)).toMatchObject({ en: 'twenty-nine', de: 'neunundzwanzig' });
    expect(numberPair(1001)).toMatchObject({ en: 'one thousand one', de: 'eintausendeins' });
    expect(numberPair(2345)).toMatchObject({ en: 'two thousand three hundred forty-five', de: 'zweitausenddreihundertfünfundvierzig' });
    expect(numberPair(999_999).de).toBe('neunhundertneunundneunzigtausendneunhundertneunundneunzig');
  });

  it("corrects n2words' 'einstausend' to German 'eintausend'", () => {
    expect(numberPair(101_000).de).toBe('einhunderteintausend');
    expect(numberPair(201_001).de).toBe('zweihunderteintausendeins');
  });

  it('decomposes every number 0..9999 and a sample up to 999 999 exactly as n2words spells it', () => {
    // numberPair throws when the pieces do not join to n2words' strings.
    const pairs = numberPairs({ max: 9999 });
    expect(pairs).toHaveLength(10_000);
    for (let n = 10_000; n <= MAX_NUMBER; n += 997) expect(() => numberPair(n)).not.toThrow();
    for (const p of [...pairs, numberPair(123_456)]) {
      expect(p.enPieces.map((x) => p.en.slice(x.start, x.end))).toEqual(p.enPieces.map((x) => x.text));
      expect(p.dePieces.map((x) => x.text).join('')).toBe(p.de);
    }
  });

  it('aligns crossing pieces: neun↔nine, und unaligned, zwanzig↔twenty', () => {
    const p = numberPair(29);
    expect(p.dePieces.map((x) => x.text)).toEqual(['neun', 'und', 'zwanzig']);
    expect(p.enPieces.map((x) => x.text)).toEqual(['twenty', 'nine']);
    expect(pieceAlignment(p)).toEqual([[1], [], [0]]);
  });

  it('aligns hundreds and thousands groups separately', () => {
    const p = numberPair(121_021); // one hundred twenty-one thousand twenty-one
    const links = pieceAlignment(p).map((en, i) => `${p.dePieces[i]!.text}:${en.map((j) => p.enPieces[j]!.text).join('+')}`);
    expect(links).toEqual(['ein:one', 'hundert:hundred', 'ein:one', 'und:', 'zwanzig:twenty', 'tausend:thousand', 'ein:one', 'und:', 'zwanzig:twenty']);
    // the two "ein" of the thousands group and of the last group point at different English "one"s
    const al = pieceAlignment(p);
    expect(p.enPieces[al[2]![0]!]!.start).toBeLessThan(p.enPieces[al[6]![0]!]!.start);
  });

  it('projects piece alignment onto tokens through character spans', () => {
    const p = numberPair(29);
    const src = charSpans(p.en); // t w e n t y - n i n e <eos>
    const tgt = charSpans(p.de);
    const gold = tokenAlignment(p, src, tgt);
    expect(gold).toHaveLength(tgt.length);
    expect(gold[0]).toEqual([7, 8, 9, 10]); // 'n' of neun → every character of "nine"
    expect(gold[4]).toEqual([]); // 'u' of und
    expect(gold[7]).toEqual([0, 1, 2, 3, 4, 5]); // 'z' of zwanzig → "twenty"
    expect(gold[gold.length - 1]).toEqual([]); // <eos>
  });

  it('scores the argmax of each row against the gold tokens', () => {
    const gold = [[1], [], [0], []];
    const weights = [
      [0.2, 0.7, 0.1],
      [0.9, 0.05, 0.05],
      [0.3, 0.6, 0.1],
      [0, 0, 1],
    ];
    expect(alignmentAccuracy(weights, gold)).toEqual({ scored: 2, correct: 1, accuracy: 0.5 });
    expect(() => alignmentAccuracy(weights, gold.slice(1))).toThrow(
      /alignmentAccuracy: weights and gold need one row per target token, but got weights \[4,3\] and gold \[3\]/,
    );
  });

  it('splits by number, each number in exactly one split, deterministically', () => {
    const pairs = numberPairs({ max: 2999 });
    const a = splitNumbers(pairs);
    const b = splitNumbers([...pairs].reverse());
    const ids = (xs: { n: number }[]) => xs.map((x) => x.n).sort((x, y) => x - y);
    expect(ids(a.test)).toEqual(ids(b.test));
    const all = [...a.train, ...a.dev, ...a.test].map((x) => x.n);
    expect(new Set(all).size).toBe(3000);
    expect(a.dev.length).toBeGreaterThan(50);
    expect(a.test.length).toBeGreaterThan(50);
  });

  it('rejects numbers outside the range', () => {
    expect(() => numberPair(1_000_000)).toThrow(/numberPair: n must be an integer in \[0, 999999\], but got 1000000/);
    expect(() => numberPair(1.5)).toThrow(/but got 1.5/);
    expect(() => numberPairs({ min: 5, max: 4 })).toThrow(/numberPairs: need integers/);
  });
});
