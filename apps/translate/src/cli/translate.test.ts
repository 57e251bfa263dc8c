/**
 * The `translate` command as a person runs it: a child process on the built app (built here
 * first, so the test runs what `src/` says), on the committed numbers model and on a tiny
 * sentence model made here (the shipped one may not exist yet; tests never depend on it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@attnkit/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numberPair } from '../data/numbers.js';
import { DING_CHECKPOINT } from '../tasks.js';
import { BPETokenizer } from '../tokenizer/bpe.js';
import { Translator } from '../translator.js';

const APP = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(APP, 'node_modules', '.bin', 'tsc');

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(APP, 'dist', 'cli', 'translate.js'), ...args], {
    cwd: APP,
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

describe('translate command', () => {
  let dir = '';
  let sentences = '';
  beforeAll(async () => {
    execFileSync(TSC, ['-p', 'tsconfig.build.json'], { cwd: APP, stdio: 'pipe' });
    dir = mkdtempSync(join(tmpdir(), 'attnkit-translate-'));
    await useBackend('cpu');
    const tok = BPETokenizer.train(['I have five cats.', 'Ich habe fünf Katzen.', 'The bank is old.', 'Die Bank ist alt.', 'It is 3.'], { vocabSize: 80 });
    const model = Translator.create(tok, { task: 'ding', size: 'tiny', seed: 2 });
    sentences = join(dir, 'ding.ckpt');
    await model.save(sentences, { trainingData: ['ding'], step: 0 });
    model.dispose();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the usage for --help (status 0) and for no text (status 2), without waiting for input', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: pnpm --filter @attnkit\/translate translate \[options\] "English text"/);
    for (const [args, input] of [
      [[], undefined],
      [[], ''],
      [['-'], '   \n'],
    ] as const) {
      const none = run([...args], input);
      expect(none.signal).toBeNull();
      expect(none.status).toBe(2);
      expect(none.stderr).toMatch(/^translate: no text to translate\nusage: /);
    }
  });

  it('translates digits spelt out and number words in any case with the numbers model, checked against n2words', () => {
    const digits = run(['--task', 'numbers', '4721']);
    expect(digits.status).toBe(0);
    expect(digits.stdout.split('\n')[0]).toBe(`${numberPair(4721).en}  →  ${numberPair(4721).de}`);
    expect(digits.stdout).toContain('cross-attention, decoder layer 2 of 2, mean of 4 heads');
    expect(digits.stdout).toContain(`note: 4721 in English words: “${numberPair(4721).en}”.`);
    expect(digits.stdout).toContain('note: Matches the reference (n2words).');
    const cased = run(['--task', 'numbers', '--layer', '1', 'Twenty-Nine']);
    expect(cased.stdout.split('\n')[0]).toBe('twenty-nine  →  neunundzwanzig');
    expect(cased.stdout).toContain('cross-attention, decoder layer 1 of 2');
    const piped = run(['--task', 'numbers', '-'], 'eight thousand ninety-two\n');
    expect(piped.stdout.split('\n')[0]).toBe(`eight thousand ninety-two  →  ${numberPair(8092).de}`);
  });

  it('flags input outside what each model knows', () => {
    const words = run(['--task', 'numbers', 'hello ☃']);
    expect(words.status).toBe(0);
    expect(words.stdout).toContain('note: Not English number words from 0 to 9 999: the numbers model knows nothing else, so its output is a guess.');
    expect(words.stdout).toContain('note: Unknown to the model: “☃” (U+2603)');
    const sentence = run(['--checkpoint', sentences, 'I have 3 cats ☃.']);
    expect(sentence.status).toBe(0);
    expect(sentence.stdout.split('\n')[0]).toMatch(/^I have 3 cats ☃\. {2}→ {2}/);
    expect(sentence.stdout).toContain('note: Unknown to the model: “☃” (U+2603)');
    expect(sentence.stdout).toContain('note: Digits: the sentence model saw few numbers written with digits');
  });

  it('answers bad options and impossible inputs with one line and a status, never a stack trace', () => {
    const cases: [string[], number, RegExp][] = [
      [['--task', 'nope', 'x'], 2, /^translate: --task must be 'ding' or 'numbers', but got 'nope'\nusage:/],
      [['--task', 'numbers', '--layer', '9', '29'], 2, /^translate: --layer must be from 1 to 2 \(this model's decoder layers\), but got 9\n/],
      [['--task', 'numbers', '--beam', '0', '29'], 2, /^translate: --beam must be an integer from 1 to 16, but got 0\n/],
      [['--task', 'numbers', '12345678'], 1, /^translate: 12345678 is too large: this app spells numbers up to 999,999\.\n$/],
      [['--checkpoint', join(dir, 'missing.ckpt'), 'x'], 1, /^translate: no checkpoint at .*missing\.ckpt\n$/],
    ];
    for (const [args, status, message] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(status);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('uses the sentence model by default when it exists, and says so when it does not', () => {
    const r = run(['twenty-nine']);
    expect(r.status).toBe(0);
    if (existsSync(DING_CHECKPOINT)) expect(r.stdout).not.toContain('no sentence model');
    else
      expect(r.stdout.split('\n')[0]).toBe(
        `note: no sentence model at ${DING_CHECKPOINT} yet, so this is the numbers model (English number words, 0 to 9 999).`,
      );
  });
});
