import { describe, expect, it } from 'vitest';
import { hashToUnit, splitBy, splitOf } from './split.js';
import { normalizeText, truncateText } from './text.js';

describe('normalizeText', () => {
  it('composes to NFC: u + combining diaeresis becomes ü', () => {
    const decomposed = 'fu\u0308nf';
    expect(decomposed.length).toBe(5);
    expect(normalizeText(decomposed)).toBe('f\u00fcnf');
  });

  it('collapses whitespace runs, including no-break and zero-width spaces, and trims', () => {
    expect(normalizeText('  Es\t\twird \u00a0 Abend.\n')).toBe('Es wird Abend.');
    expect(normalizeText('a\u200bb\u3000c')).toBe('a b c');
  });

  it('drops control characters and is idempotent', () => {
    const once = normalizeText('x\u0007y \u0000 z');
    expect(once).toBe('xy z');
    expect(normalizeText(once)).toBe(once);
  });
});

describe('truncateText', () => {
  it('keeps text that fits and cuts long text at a word boundary near the limit', () => {
    expect(truncateText('kurz', { maxChars: 10 })).toEqual({ text: 'kurz', truncated: false });
    const long = 'one two three four five six';
    const cut = truncateText(long, { maxChars: 15, ellipsis: '…' });
    expect(cut).toEqual({ text: 'one two three…', truncated: true });
    expect(Array.from(cut.text).length).toBeLessThanOrEqual(15);
  });

  it('never splits a surrogate pair', () => {
    const cut = truncateText('😀😀😀😀', { maxChars: 2 });
    expect(cut.text).toBe('😀😀');
  });

  it('rejects a non-positive limit with a named error', () => {
    expect(() => truncateText('x', { maxChars: 0 })).toThrow(/truncateText: maxChars must be a positive integer, but got 0/);
  });
});

describe('seeded splits', () => {
  it('assigns a key by key and seed only, whatever the input order', () => {
    const keys = Array.from({ length: 500 }, (_, i) => `sentence ${i}`);
    const a = splitBy(keys, (k) => k, { seed: 's' });
    const b = splitBy([...keys].reverse(), (k) => k, { seed: 's' });
    expect(new Set(a.dev)).toEqual(new Set(b.dev));
    expect(new Set(a.test)).toEqual(new Set(b.test));
    expect(a.train.length + a.dev.length + a.test.length).toBe(500);
  });

  it('gives roughly the requested fractions and a different assignment under another seed', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => String(i));
    const s = splitBy(keys, (k) => k, { seed: 'x', dev: 0.1, test: 0.2 });
    // Binomial(20000, 0.1) has sd ≈ 42; 5 sd either side.
    expect(Math.abs(s.dev.length - 2000)).toBeLessThan(220);
    expect(Math.abs(s.test.length - 4000)).toBeLessThan(290);
    const other = keys.filter((k) => splitOf(k, { seed: 'y', dev: 0.1, test: 0.2 }) !== splitOf(k, { seed: 'x', dev: 0.1, test: 0.2 }));
    expect(other.length).toBeGreaterThan(1000);
  });

  it('hashes to [0, 1) and validates fractions', () => {
    for (const k of ['', 'a', 'ü', 'long key '.repeat(50)]) {
      const u = hashToUnit(k, 'seed');
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
    }
    expect(() => splitOf('k', { dev: 0.7, test: 0.5 })).toThrow(/splitOf: dev and test must be fractions summing to at most 1/);
  });
});
