import { describe, expect, it } from 'vitest';
import { numberPair } from '../data/numbers.js';
import { normalizeText } from '../text.js';
import { BOS_ID, BPETokenizer, EOS_ID, PAD_ID, SPACE_MARK, UNK_ID, padBatch } from './bpe.js';

const corpus = [
  'The dog barks at the cat.',
  'Der Hund bellt die Katze an.',
  'The cat is sleeping on the mat.',
  'Die Katze schläft auf der Matte.',
  'Dogs and cats are friends?',
  'Hunde und Katzen sind Freunde?',
  'I have twenty-nine cats!',
  'Ich habe neunundzwanzig Katzen!',
];

/**
 * The textbook algorithm, for comparison: recount every adjacent pair each round, merge the most
 * frequent (ties: left symbol, then right symbol, in code-unit order), stop below 2.
 * Handles text of letters and single spaces only.
 */
function naiveMerges(texts: string[], merges: number): [string, string][] {
  const counts = new Map<string, number>();
  for (const t of texts) {
    t.split(' ').forEach((w, i) => {
      const word = (i > 0 ? SPACE_MARK : '') + w;
      counts.set(word, (counts.get(word) ?? 0) + 1);
    });
  }
  let words = [...counts].map(([w, c]) => ({ syms: Array.from(w), c }));
  const out: [string, string][] = [];
  while (out.length < merges) {
    const pairs = new Map<string, number>();
    for (const { syms, c } of words)
      for (let i = 0; i + 1 < syms.length; i++) pairs.set(`${syms[i]}\u0000${syms[i + 1]}`, (pairs.get(`${syms[i]}\u0000${syms[i + 1]}`) ?? 0) + c);
    let best: [string, string] | undefined;
    let bestCount = 1;
    for (const [k, c] of pairs) {
      const [a, b] = k.split('\u0000') as [string, string];
      if (c > bestCount || (c === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))) {
        best = [a, b];
        bestCount = c;
      }
    }
    if (!best || bestCount < 2) break;
    out.push(best);
    const [a, b] = best;
    words = words.map(({ syms, c }) => {
      const next: string[] = [];
      for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(syms[i]!);
      }
      return { syms: next, c };
    });
  }
  return out;
}

describe('BPETokenizer', () => {
  const tok = BPETokenizer.train(corpus, { vocabSize: 60 });

  it('reserves <pad>=0, <bos>=1, <eos>=2, <unk>=3 and shares one vocabulary', () => {
    expect(tok.vocab.slice(0, 4)).toEqual(['<pad>', '<bos>', '<eos>', '<unk>']);
    expect([PAD_ID, BOS_ID, EOS_ID, UNK_ID]).toEqual([0, 1, 2, 3]);
    expect(tok.vocabSize).toBe(60);
    // with a larger budget, training stops once no pair occurs twice
    const all = BPETokenizer.train(corpus, { vocabSize: 10_000 });
    expect(all.vocabSize).toBeLessThan(10_000);
    expect(all.merges.length).toBe(all.vocabSize - 4 - all.alphabet.length);
    // English and German words come from the same table
    expect(tok.tokenToId(`${SPACE_MARK}cat`) ?? tok.tokenToId('cat')).toBeDefined();
    expect(tok.encode('Katze').ids.every((id) => id !== UNK_ID)).toBe(true);
  });

  it('round-trips training and new in-alphabet text: decode(encode(x)) = normalize(x)', () => {
    for (const text of [...corpus, '  Die   Matte bellt.\tThe Hund! ', 'neun Katzen. twenty dogs', 'Ich']) {
      const { ids } = tok.encode(text, { bos: true });
      expect(ids[0]).toBe(BOS_ID);
      expect(ids[ids.length - 1]).toBe(EOS_ID);
      expect(tok.decode(ids)).toBe(normalizeText(text));
    }
  });

  it('composes decomposed input before encoding (NFC)', () => {
    expect(tok.encode('schla\u0308ft').ids).toEqual(tok.encode('schl\u00e4ft').ids);
  });

  it('learns the same merges as the textbook algorithm', () => {
    const texts = Array.from({ length: 300 }, (_, n) => numberPair(n)).flatMap((p) => [p.de, p.en.replaceAll('-', ' ')]);
    const fast = BPETokenizer.train(texts, { vocabSize: 250 });
    const merges = fast.merges.map(([a, b]) => [a, b]);
    expect(merges.length).toBeGreaterThan(100);
    expect(merges).toEqual(naiveMerges(texts, merges.length));
  });

  it('maps characters outside the alphabet to <unk> and decodes it as ⁇', () => {
    const e = tok.encode('Der Hund 🐕');
    expect(e.ids).toContain(UNK_ID);
    expect(tok.decode(e.ids)).toBe('Der Hund \u2047');
  });

  it('gives each token its span in the normalised text', () => {
    const e = tok.encode('  Der   Hund bellt. ', { bos: true });
    expect(e.text).toBe('Der Hund bellt.');
    expect(e.spans[0]).toBeNull();
    expect(e.spans[e.spans.length - 1]).toBeNull();
    const pieces = e.spans.slice(1, -1).map((s) => e.text.slice(s![0], s![1]));
    expect(pieces.join('')).toBe(e.text);
    expect(tok.idsToTokens(e.ids.slice(1, -1)).map((t) => t.replaceAll(SPACE_MARK, ' '))).toEqual(pieces);
  });

  it('handles over-long input: truncates (keeping <eos>) or throws, as asked', () => {
    const long = 'The dog barks at the cat. '.repeat(50);
    const cut = tok.encode(long, { bos: true, maxLength: 16 });
    expect(cut.ids).toHaveLength(16);
    expect(cut.truncated).toBe(true);
    expect(cut.ids[0]).toBe(BOS_ID);
    expect(cut.ids[15]).toBe(EOS_ID);
    expect(tok.encode('The dog.', { maxLength: 16 }).truncated).toBe(false);
    expect(() => tok.encode(long, { maxLength: 16, overflow: 'error' })).toThrow(
      /BPETokenizer.encode: text encodes to more than maxLength 16 ids, but got \d+/,
    );
    expect(() => tok.encode('x', { bos: true, maxLength: 2 })).toThrow(/maxLength must be an integer of at least 3, but got 2/);
  });

  it('saves to JSON and loads back to the same tokenizer', () => {
    const json = JSON.parse(JSON.stringify(tok.toJSON()));
    const back = BPETokenizer.fromJSON(json);
    expect(back.vocab).toEqual(tok.vocab);
    for (const text of corpus) expect(back.encode(text).ids).toEqual(tok.encode(text).ids);
  });

  it('rejects broken JSON with a message saying what is wrong', () => {
    const good = tok.toJSON();
    expect(() => BPETokenizer.fromJSON({ ...good, format: 'other' })).toThrow(
      /BPETokenizer.fromJSON: expected an object with format 'attnkit-bpe', but got 'other'/,
    );
    expect(() => BPETokenizer.fromJSON({ ...good, version: 2 })).toThrow(/unsupported version \(this code reads 1\), but got 2/);
    expect(() => BPETokenizer.fromJSON({ ...good, merges: [['zz', 'q'], ...good.merges] })).toThrow(
      /merge 0 uses a symbol not defined before it, but got '\[zz, q\]'/,
    );
    expect(() => BPETokenizer.fromJSON(null)).toThrow(/but got null/);
  });

  it('is deterministic', () => {
    expect(BPETokenizer.train(corpus, { vocabSize: 60 }).toJSON()).toEqual(tok.toJSON());
  });

  it('pads batches with <pad> = 0', () => {
    const b = padBatch([
      [5, 6, 2],
      [7, 2],
    ]);
    expect(b.shape).toEqual([2, 3]);
    expect(Array.from(b.ids)).toEqual([5, 6, 2, 7, 2, 0]);
    expect(b.lengths).toEqual([3, 2]);
    expect(() => padBatch([[1, 2, 3]], { length: 2 })).toThrow(/padBatch: length must be at least the longest sequence \(3\), but got 2/);
  });
});
