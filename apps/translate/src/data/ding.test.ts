import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { splitOf } from '../split.js';
import { readPairs } from '../tasks.js';
import { cleanPhrase, cleanSubEntry, isSentence, parseDing, parseDingDictionary, phraseKey, splitDing, trainingDictionary } from './ding.js';
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

describe('parseDingDictionary', () => {
  it('extracts the aligned word and phrase pairs that are not sentences', () => {
    expect(parseDingDictionary(fixture).map((p) => [p.en, p.de])).toEqual([
      ['dog', 'Hund'],
      ['dogs', 'Hunde'],
      ['cat', 'Katze'],
      ['house', 'Haus'],
      ['rain', 'Regen'],
      ['rainy weather', 'Regenwetter'],
      ['precipitation', 'Niederschlag'],
      ['how are you?', "wie geht's?"],
      ['five', 'fünf'],
      ['example', 'Beispiel'],
    ]);
  });

  it('drops glosses, keeps the first alternative, and skips leftovers, long phrases, sentences and duplicates', () => {
    const text = [
      'Abholung {f}; Abholen {n} (von jdm./etw.) | zur Abholung bereit :: collection; pick-up (of sb./sth.) | ready for collection',
      'Wort/Wörter :: word/words',
      'ein sehr langer Ausdruck mit vielen vielen Wörtern darin :: a very long expression with many many words in it',
      'Hund {m} | Der Hund bellt. :: dog | the dog barks',
      'Hund {m} :: dog',
    ].join('\n');
    expect(parseDingDictionary(text).map((p) => [p.en, p.de, p.line])).toEqual([
      ['collection', 'Abholung', 1],
      ['ready for collection', 'zur Abholung bereit', 1],
      ['dog', 'Hund', 4],
    ]);
    expect(parseDingDictionary(text, { maxWords: 20 }).map((p) => p.en)).toContain('a very long expression with many many words in it');
    expect(cleanPhrase('Aale {pl} (Anguilliformes) (zoologische Ordnung)')).toBe('Aale');
  });

  it('keeps no pair whose English or German is that of a dev or test sentence', () => {
    const sentences = [
      { en: 'It is raining.', de: 'Es regnet.', line: 1 },
      { en: 'The dog barks.', de: 'Der Hund bellt.', line: 2 },
    ];
    const dictionary = [
      { en: 'it is raining', de: 'es gießt', line: 3 },
      { en: 'the barking', de: 'der Hund bellt', line: 4 },
      { en: 'dog', de: 'Hund', line: 5 },
    ];
    expect(phraseKey('"It is raining."')).toBe('it is raining');
    const kept = trainingDictionary({ train: [], dev: [sentences[0]!], test: [sentences[1]!] }, dictionary);
    expect(kept).toEqual({ pairs: [dictionary[2]], dropped: 2 });
  });
});

describe('the committed Ding test split (checkpoints/ding/test.tsv)', () => {
  const file = fileURLToPath(new URL('../../checkpoints/ding/test.tsv', import.meta.url));
  it('is the test split of trans-de-en 1.9-6 as before the dictionary pairs were added: 1063 example sentences, all in the test split', () => {
    const pairs = readPairs(file);
    expect(pairs.length).toBe(1063);
    for (const p of pairs) {
      expect(splitOf(p.en, { seed: 'ding' }), p.en).toBe('test');
      expect(isSentence(p.en) && isSentence(p.de), p.en).toBe(true);
    }
    // SHA-256 of the split `data` wrote before this change (and writes now): byte for byte the same split
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe('50b035eef8276e99d414df8e94920e7c3e03059eaf4102f25e9cdf94e885fa85');
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
