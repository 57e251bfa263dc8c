/**
 * The demo as `pnpm demo` runs it (a child process on the app, built here first): the numbers
 * task on the committed numbers model, and the sentence task on a tiny sentence model made here
 * (the shipped one may not exist yet; `shipped-ding.test.ts` scores that one when it does).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useBackend } from '@attnkit/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encoderAttention } from '../browser.js';
import { BANK_SENTENCES, wordTokens, wordWeight } from '../explain.js';
import { DING_TEST_FILE, readPairs } from '../tasks.js';
import { BPETokenizer } from '../tokenizer/bpe.js';
import { Translator, averageHeads } from '../translator.js';

const APP = fileURLToPath(new URL('../../', import.meta.url));

function demo(args: string[]) {
  const r = spawnSync(process.execPath, [join(APP, 'dist', 'cli', 'demo.js'), ...args], {
    cwd: APP,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 240_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('demo command', () => {
  let dir = '';
  let sentences = '';
  let model: Translator;
  beforeAll(async () => {
    execFileSync(join(APP, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], { cwd: APP, stdio: 'pipe' });
    dir = mkdtempSync(join(tmpdir(), 'attnkit-demo-'));
    await useBackend('cpu');
    const texts = [
      ...readPairs(DING_TEST_FILE)
        .slice(0, 200)
        .flatMap((p) => [p.en, p.de]),
      ...BANK_SENTENCES.map((s) => s.text),
    ];
    model = Translator.create(BPETokenizer.train(texts, { vocabSize: 300 }), { task: 'ding', size: 'tiny', seed: 4, maxSourceTokens: 48 });
    sentences = join(dir, 'ding.ckpt');
    await model.save(sentences, { trainingData: ['ding'], step: 0, trainSeconds: 0 });
  }, 120_000);
  afterAll(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scores the sentence model greedy and beam 4 beside the copy baseline, and prints the bank weights Node computes', async () => {
    const out = join(dir, 'ding-out');
    const r = demo(['--checkpoint', sentences, '--limit', '6', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Ding test split, 6 sentences \(.*checkpoints\/ding\/test\.tsv\); greedy [\d.]+ s, beam 4 [\d.]+ s:/);
    for (const row of ['greedy', 'beam 4', 'copy-the-source baseline']) expect(r.stdout).toMatch(new RegExp(`\\n  ${row} +\\d+\\.\\d\\d +\\d+\\.\\d\\d\\n`));
    // an untrained model: the demo says it is below the bar, and how to read its output
    expect(r.stdout).toContain('the bar this model is built for (apps/translate/README.md): BLEU >= 15, chrF2 >= 40: NOT reached');
    for (const s of BANK_SENTENCES) {
      const [t] = model.translate([s.text]);
      expect(r.stdout).toContain(`\n"${s.text}"  →  ${t!.output}\n`);
      const enc = await encoderAttention(model, s.text);
      const encoding = model.encodeSource(s.text);
      const [bank, context] = [wordTokens(encoding, s.word), wordTokens(encoding, s.context)];
      for (const [l, heads] of enc.weights.entries()) {
        const heads4 = heads.map((w, h) => `head ${h + 1} ${wordWeight(w, bank, context).toFixed(2)}`).join(', ');
        expect(r.stdout).toContain(
          `  encoder layer ${l + 1}: "bank" puts ${wordWeight(averageHeads(heads), bank, context).toFixed(2)} of its attention on "${s.context}" (mean of heads; ${heads4})`,
        );
      }
    }
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.indexOf('<table>')).toBeLessThan(html.indexOf('<svg'));
    expect(html).toContain('<tr><th>decoding</th><th>BLEU</th><th>chrF2</th></tr>');
    // per sentence: a grid per decoder layer (mean + 4 heads) and one for the encoder's bank row (2 layers + the row)
    expect(html.split('<div class="grid">')).toHaveLength(1 + 2 * 3);
    const svgs = readdirSync(out).filter((f) => f.endsWith('.svg'));
    expect(svgs).toContain('bank1-cross-layer1-head1.svg');
    expect(svgs).toContain('bank2-encoder-bank-row.svg');
    expect(svgs).toHaveLength(2 * (2 * 5 + 2 + 1));
  }, 240_000);

  it('runs the numbers task with --task numbers, layers named from 1', () => {
    const out = join(dir, 'numbers-out');
    const r = demo(['--task', 'numbers', '--limit', '40', '--out', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('numbers test split, 40 held-out numbers (greedy decoding):');
    expect(r.stdout).toMatch(/alignment, decoder layer 1: [\d.]+% of \d+ output tokens/);
    expect(r.stdout).toMatch(/alignment, decoder layer 2: [\d.]+% of \d+ output tokens/);
    expect(r.stdout).not.toContain('layer 0');
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.indexOf('<table>')).toBeLessThan(html.indexOf('<svg'));
    expect(html).toContain('<h2>4721: cross-attention, decoder layer 2</h2>');
  }, 240_000);

  it('refuses a bad --task with the usage', () => {
    const r = demo(['--task', 'nope']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^demo: --task must be 'ding' or 'numbers', but got 'nope'\nusage: pnpm demo/);
  });
});
