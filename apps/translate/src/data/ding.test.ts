import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanSubEntry, isSentence, parseDing, splitDing } from './ding.js';
import { fetchDing } from './fetch-ding.js';

// A fixture in the Ding file format, written for these tests (not taken from the dictionary).
const fixturePath = new URL('./fixtures/de-en.sample', import.meta.url);
const fixture = readFileSync(fixturePath, 'utf8');

describe('parseDing', () => {
  const result = parseDing(fixture);
  const pairs = result.pairs.map((p) => [p.en, p.de]);

  it('extracts the aligned example sentences, annotations removed, first alternative kept', () => {
    expect(pairs).toEqual([
      ['The dog barks.', 'Der Hund bellt.'],
      ['The cat is sleeping.', 'Die Katze schläft.'],
      ['The house is old.', 'Das Haus ist alt.'],
      ['It is raining.', 'Es regnet.'],
      ['It is raining.', 'Es schüttet.'],
      ['How are you?', 'Wie geht es dir?'],
      ['I have five cats.', 'Ich habe f\u00fcnf Katzen.'],
      ['This is an example.', 'Das ist ein Beispiel.'],
    ]);
  });

  it('counts entries, malformed lines and duplicates, and keeps the first line number', () => {
    expect(result.entries).toBe(11);
    expect(result.malformed).toBe(2); // ' | ' counts differ; no ' :: '
    expect(result.duplicates).toBe(1); // "Es regnet." / "It is raining." twice
    expect(result.pairs[3]!.line).toBe(6);
  });

  it('outputs NFC text with single spaces', () => {
    for (const p of result.pairs) {
      expect(p.de).toBe(p.de.normalize('NFC'));
      expect(p.en).not.toMatch(/\s\s|\t/);
    }
  });

  it('cleans sub-entries and recognises sentences', () => {
    expect(cleanSubEntry(' Die Katze {f} schläft. [ugs.] <Katz> ')).toBe('Die Katze schläft.');
    expect(isSentence('Es regnet.')).toBe(true);
    expect(isSentence('Regen')).toBe(false);
    expect(isSentence('wie geht es?')).toBe(false);
    expect(isSentence('Hallo!')).toBe(false); // one word
  });
});

describe('splitDing', () => {
  it('never puts one English sentence into two splits', () => {
    // Many German variants per English sentence, so a by-pair split would scatter them.
    const pairs = Array.from({ length: 3000 }, (_, i) => ({ en: `Sentence number ${i % 600}.`, de: `Satz ${i}.`, line: i + 1 }));
    const s = splitDing(pairs);
    const where = new Map<string, string>();
    for (const name of ['train', 'dev', 'test'] as const) {
      for (const p of s[name]) {
        expect(where.get(p.en) ?? name).toBe(name);
        where.set(p.en, name);
      }
    }
    expect(where.size).toBe(600);
    expect(s.dev.length).toBeGreaterThan(0);
    expect(s.test.length).toBeGreaterThan(0);
  });
});

describe('fetchDing', () => {
  const saved = process.env.PATH;
  const dirs: string[] = [];
  afterEach(() => {
    process.env.PATH = saved;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('uses an explicit file when given', () => {
    const source = fetchDing({ cacheDir: '/nonexistent', file: fixturePath.pathname });
    expect(source).toEqual({ path: fixturePath.pathname, origin: 'file' });
  });

  it('says clearly that the corpus is unavailable when apt-get is missing', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ding-'));
    dirs.push(cacheDir);
    process.env.PATH = join(cacheDir, 'no-bin'); // no apt-get on this PATH
    expect(() => fetchDing({ cacheDir, file: '', useSystemFile: false })).toThrow(
      /fetchDing: the Ding corpus \(Debian package trans-de-en\) could not be fetched.*everything else .* works without it.*apt-get is not installed/,
    );
  });

  it('names a missing explicit file', () => {
    expect(() => fetchDing({ cacheDir: '/nonexistent', file: '/no/such/de-en' })).toThrow(/names no existing file, but got '\/no\/such\/de-en'/);
  });
});
