/**
 * End-to-end: builds the page, serves it on 127.0.0.1 and drives Debian's Chromium through
 * playwright-core, once on the wasm backend and once on WebGPU (SwiftShader on a machine without
 * a GPU). Without Chromium the test does not run and says how to enable it; with `CI` set that is
 * a failure. Screenshots and load timings go to `web/screenshots/` (git-ignored).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type PreviewServer, build, preview } from 'vite';
import { CHROMIUM, CHROMIUM_FLAGS, describeInChromium } from '@attnkit/test-utils/chromium';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encoderAttention } from '../../src/browser.js';
import { numberPair } from '../../src/data/numbers.js';
import { BANK_SENTENCES, LOW_CONFIDENCE, layerName, wordTokens, wordWeight } from '../../src/explain.js';
import { readPairs } from '../../src/tasks.js';
import { BPETokenizer } from '../../src/tokenizer/bpe.js';
import { Translator, averageHeads } from '../../src/translator.js';

const WEB = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = join(WEB, 'vite.config.mjs');
const CHECKPOINT = fileURLToPath(new URL('../../checkpoints/numbers.ckpt', import.meta.url));
const SHOTS = join(WEB, 'screenshots');
const DING_TEST = fileURLToPath(new URL('../../checkpoints/ding/test.tsv', import.meta.url));

interface PageState {
  backend: string | null;
  model: 'ding' | 'numbers' | null;
  models: string[];
  errors: number;
  timings: { backend?: number; model?: number; firstTranslation?: number; lastTranslationMs?: number };
  translations: number;
  error: string | null;
}

const pageState = (page: Page) => page.evaluate(() => (window as unknown as { attnkit: PageState }).attnkit);

/** Types `text`, submits with Enter and waits for the next translation (or a refusal). */
async function translate(page: Page, text: string): Promise<void> {
  const before = (await pageState(page)).translations;
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction((n) => (window as unknown as { attnkit: PageState }).attnkit.translations > n, before, { timeout: 30_000 });
}

/** Types `text`, submits and waits for the error message that replaces the result. */
async function refuse(page: Page, text: string): Promise<string> {
  const before = (await pageState(page)).errors;
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction((n) => (window as unknown as { attnkit: PageState }).attnkit.errors > n, before, { timeout: 30_000 });
  return (await page.textContent('#message')) ?? '';
}

/** `[row][column]` weights from the heatmap cells' titles ("a → b: 0.123"). */
async function cellWeights(page: Page): Promise<number[][]> {
  return page.$$eval('#heatmap tbody tr', (rows) =>
    rows.map((tr) => Array.from(tr.querySelectorAll('td.cell'), (td) => Number((td as HTMLElement).title.split(': ').at(-1)))),
  );
}

describeInChromium('web page in Chromium', () => {
  let outDir = '';
  let server: PreviewServer | null = null;
  let base = '';
  let reference: Translator | null = null;
  /** A sentence model made here (untrained, tokenizer from the committed Ding test split): the page loads it as its `ding` model. */
  let sentences: Translator | null = null;
  const timings: Record<string, PageState['timings'] & { warm4721Ms?: number }> = {};

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'attnkit-web-'));
    // The shipped sentence model may not exist yet and a test must not depend on it: the page is
    // built with a tiny untrained sentence model made here (ATTNKIT_DING_CHECKPOINT), and every
    // output is compared with what Node computes from the same checkpoint.
    const texts = [...readPairs(DING_TEST).flatMap((p) => [p.en, p.de]), ...BANK_SENTENCES.map((s) => s.text)];
    sentences = Translator.create(BPETokenizer.train(texts, { vocabSize: 400 }), { task: 'ding', size: 'tiny', seed: 11, maxSourceTokens: 48 });
    const dingPath = join(outDir, 'ding-model.ckpt');
    await sentences.save(dingPath, { trainingData: ['ding'], step: 0 });
    process.env.ATTNKIT_DING_CHECKPOINT = dingPath;
    outDir = join(outDir, 'page');
    await build({ configFile: CONFIG, logLevel: 'error', build: { outDir, emptyOutDir: true } });
    server = await preview({ configFile: CONFIG, logLevel: 'error', build: { outDir }, preview: { host: '127.0.0.1', port: 0, open: false } });
    base = `http://127.0.0.1:${(server.httpServer.address() as AddressInfo).port}/`;
    const loaded = Translator.load(CHECKPOINT);
    tf.dispose(Object.values(loaded.extra));
    reference = loaded.translator;
    mkdirSync(SHOTS, { recursive: true });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
    reference?.dispose();
    sentences?.dispose();
    delete process.env.ATTNKIT_DING_CHECKPOINT;
    if (outDir) rmSync(join(outDir, '..'), { recursive: true, force: true });
    if (Object.keys(timings).length > 0) writeFileSync(join(SHOTS, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  });

  for (const backend of ['wasm', 'webgpu'] as const) {
    it(`translates, draws and explores attention on ${backend}`, async () => {
      const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
      try {
        const context = await browser.newContext({ viewport: { width: 1200, height: 1100 } });
        const page = await context.newPage();
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        const problems: string[] = [];
        page.on('pageerror', (e) => problems.push(e.message));

        // 1) load: the page starts the backend, fetches the model and translates its example
        await page.goto(`${base}?model=numbers&backend=${backend}`);
        await page.waitForFunction(
          () => {
            const s = (window as unknown as { attnkit?: PageState }).attnkit;
            return s !== undefined && (s.translations > 0 || s.error !== null);
          },
          undefined,
          { timeout: 90_000 },
        );
        const loaded = await pageState(page);
        expect(loaded.error).toBeNull();
        expect(loaded.backend).toBe(backend);
        expect(loaded.model).toBe('numbers');
        expect(loaded.models).toEqual(['ding', 'numbers']);
        await expect(page.textContent('#backend')).resolves.toMatch(new RegExp(`^Backend: ${backend} — `));
        timings[backend] = loaded.timings;

        // 2) a number and a sentence of number words
        for (const [typed, n] of [
          ['29', 29],
          ['four thousand seven hundred twenty-one', 4721],
        ] as const) {
          await translate(page, typed);
          const pair = numberPair(n);
          await expect(page.textContent('#output')).resolves.toBe(pair.de);
          await expect(page.textContent('#source-info')).resolves.toContain('Matches the reference');
        }
        timings[backend]!.warm4721Ms = (await pageState(page)).timings.lastTranslationMs;

        // 3) cross-attention: one cell per (target, source) pair, the same weights as in Node
        const [expected] = reference!.translate([numberPair(4721).en], { returnAttention: true });
        const T = expected!.targetTokens.length;
        const S = expected!.sourceTokens.length;
        await expect(page.$$eval('#heatmap tbody th button', (bs) => bs.map((b) => b.textContent))).resolves.toEqual(expected!.targetTokens);
        await expect(page.$$eval('#heatmap thead th', (ths) => ths.map((th) => th.textContent))).resolves.toEqual(expected!.sourceTokens);
        await expect(page.locator('#heatmap td.cell').count()).resolves.toBe(T * S);
        const shown = await cellWeights(page);
        const layers = expected!.cross!.length;
        for (const [t, row] of averageHeads(expected!.cross![layers - 1]!).entries()) {
          for (const [s, w] of row.entries()) expect(Math.abs(shown[t]![s]! - w), `cell ${t},${s}`).toBeLessThan(2e-3);
        }

        // 4) hovering a target token highlights its row; arrow keys move it
        await page.hover('#heatmap tbody tr[data-row="2"] th button');
        await expect(page.$$eval('#heatmap tbody tr.active', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.row))).resolves.toEqual(['2']);
        await expect(page.textContent('#focus-row')).resolves.toContain(`“${expected!.targetTokens[2]}” attends to`);
        await page.focus('#heatmap tbody tr[data-row="0"] th button');
        await page.keyboard.press('ArrowDown');
        await expect(page.$$eval('#heatmap tbody tr.active', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.row))).resolves.toEqual(['1']);
        await page.screenshot({ path: join(SHOTS, `${backend}.png`), fullPage: true });

        // 5) the other views and a single head
        await page.selectOption('#head', '0');
        await page.selectOption('#view', 'encoder');
        await expect(page.locator('#heatmap td.cell').count()).resolves.toBe(S * S);
        await expect(page.textContent('#heatmap caption')).resolves.toContain('Encoder self-attention, layer 2, head 1');
        expect(layerName(1)).toBe('layer 2'); // the demo's report and the CLI name layers the same way
        await page.selectOption('#view', 'decoder');
        await expect(page.locator('#heatmap td.cell').count()).resolves.toBe(T * T);
        const causal = await cellWeights(page);
        for (const [t, row] of causal.entries()) expect(row.slice(t + 1), `decoder self row ${t}`).toEqual(row.slice(t + 1).map(() => 0));

        // 6) offline once loaded; long inputs refused without translating
        await context.setOffline(true);
        await translate(page, '8092');
        await expect(page.textContent('#output')).resolves.toBe(numberPair(8092).de);
        const count = (await pageState(page)).translations;
        await page.fill('#input', 'twenty-one '.repeat(30));
        await page.press('#input', 'Enter');
        await expect(page.textContent('#message')).resolves.toMatch(/^This input is too long: \d+ (tokens|characters), but the model reads at most 64 tokens/);
        expect((await pageState(page)).translations).toBe(count);

        // 7) nothing came from anywhere but the page's own server
        expect(requests.filter((u) => !u.startsWith(base))).toEqual([]);
        expect(problems).toEqual([]);
      } finally {
        await browser.close();
      }
    }, 150_000);
  }

  it('translates sentences with the sentence model, the bank pair one click away, and replaces results with errors (wasm)', async () => {
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
    try {
      const page = await (await browser.newContext({ viewport: { width: 1200, height: 1100 } })).newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      // 1) without ?model the page starts on the sentence model and translates its first example
      await page.goto(`${base}?backend=wasm`);
      await page.waitForFunction(
        () => {
          const s = (window as unknown as { attnkit?: PageState }).attnkit;
          return s !== undefined && (s.translations > 0 || s.error !== null);
        },
        undefined,
        { timeout: 90_000 },
      );
      expect((await pageState(page)).error).toBeNull();
      expect((await pageState(page)).model).toBe('ding');
      await expect(page.inputValue('#model')).resolves.toBe('ding');
      await expect(page.textContent('#input-label')).resolves.toBe('An English sentence');

      // 2) a sentence: the German Node computes from the same checkpoint, and every view
      const sentence = 'The house is old.';
      await translate(page, sentence);
      const [expected] = sentences!.translate([sentence], { returnAttention: true });
      await expect(page.textContent('#output')).resolves.toBe(expected!.output);
      await expect(page.locator('#heatmap td.cell').count()).resolves.toBe(expected!.targetTokens.length * expected!.sourceTokens.length);
      await expect(page.textContent('#heatmap caption')).resolves.toContain(`Cross-attention, ${layerName(1)}, average of 4 heads`);
      for (const [view, rows] of [
        ['decoder', expected!.targetTokens.length],
        ['encoder', expected!.sourceTokens.length],
      ] as const) {
        await page.selectOption('#view', view);
        await expect(page.locator('#heatmap tbody tr').count(), view).resolves.toBe(rows);
      }
      await page.selectOption('#view', 'cross');

      // 3) the bank pair: one click each; the German and the encoder's bank → money / river weights per layer
      for (const s of BANK_SENTENCES) {
        const before = (await pageState(page)).translations;
        await page.click(`#examples button.example:text-is("${s.text}")`);
        await page.waitForFunction((n) => (window as unknown as { attnkit: PageState }).attnkit.translations > n, before, { timeout: 30_000 });
        const [t] = sentences!.translate([s.text]);
        await expect(page.inputValue('#input')).resolves.toBe(s.text);
        await expect(page.textContent('#output')).resolves.toBe(t!.output);
        const enc = await encoderAttention(sentences!, s.text);
        const encoding = sentences!.encodeSource(s.text);
        const parts = enc.weights.map(
          (heads, l) => `${layerName(l)} ${wordWeight(averageHeads(heads), wordTokens(encoding, s.word), wordTokens(encoding, s.context)).toFixed(2)}`,
        );
        await expect(page.textContent('#bank-info')).resolves.toBe(`Encoder self-attention of “bank” on “${s.context}” (mean of heads): ${parts.join(', ')}.`);
      }
      await page.screenshot({ path: join(SHOTS, 'sentence-bank.png'), fullPage: true });

      // 4) input the model does not know is flagged beside the translation
      await translate(page, 'I have 3 cats ☃.');
      const notes = await page.$$eval('#notes li', (lis) => lis.map((li) => li.textContent));
      // this test's sentence model is untrained: its output is flagged as a guess too
      const [unsure] = sentences!.translate(['I have 3 cats ☃.']);
      expect(unsure!.confidence).toBeLessThan(LOW_CONFIDENCE);
      expect(notes).toHaveLength(3);
      expect(notes[0]).toMatch(/^Unknown to the model: “☃” \(U\+2603\)/);
      expect(notes[1]).toMatch(/^Digits: the sentence model saw few numbers written with digits/);
      expect(notes[2]).toMatch(
        /^Low confidence: the model gave its own output tokens a mean probability of \d\.\d\d \(below 0\.5\); treat this translation as a guess\.$/,
      );

      // 5) errors replace the previous result (no stale German or heatmap under the message)
      expect(await refuse(page, '   ')).toBe('Type an English sentence first.');
      await expect(page.isHidden('#result')).resolves.toBe(true);
      await expect(page.isHidden('#attention')).resolves.toBe(true);
      await expect(page.textContent('#output')).resolves.toBe('');
      await expect(page.locator('#heatmap td.cell').count()).resolves.toBe(0);
      await translate(page, sentence);
      await expect(page.textContent('#message')).resolves.toBe('');
      await expect(page.isVisible('#result')).resolves.toBe(true);
      expect(await refuse(page, 'word '.repeat(60))).toMatch(/^This input is too long: \d+ (tokens|characters), but the model reads at most 48 tokens/);
      await expect(page.isHidden('#result')).resolves.toBe(true);

      // 6) the numbers model is one choice away, with its own examples; digits spelt out, any case
      const before = (await pageState(page)).translations;
      await page.selectOption('#model', 'numbers');
      await page.waitForFunction((n) => (window as unknown as { attnkit: PageState }).attnkit.translations > n, before, { timeout: 30_000 });
      expect((await pageState(page)).model).toBe('numbers');
      await translate(page, 'Twenty-Nine');
      await expect(page.textContent('#output')).resolves.toBe(numberPair(29).de);
      expect(await refuse(page, '12345678')).toMatch(/^12345678 is too large/);
      await expect(page.isHidden('#result')).resolves.toBe(true);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
