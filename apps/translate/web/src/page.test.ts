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
import { numberPair } from '../../src/data/numbers.js';
import { Translator, averageHeads } from '../../src/translator.js';

const WEB = fileURLToPath(new URL('..', import.meta.url));
const CONFIG = join(WEB, 'vite.config.mjs');
const CHECKPOINT = fileURLToPath(new URL('../../checkpoints/numbers.ckpt', import.meta.url));
const SHOTS = join(WEB, 'screenshots');

interface PageState {
  backend: string | null;
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
  const timings: Record<string, PageState['timings'] & { warm4721Ms?: number }> = {};

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'attnkit-web-'));
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
    if (outDir) rmSync(outDir, { recursive: true, force: true });
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
        await page.goto(`${base}?backend=${backend}`);
        await page.waitForFunction(() => {
          const s = (window as unknown as { attnkit?: PageState }).attnkit;
          return s !== undefined && (s.translations > 0 || s.error !== null);
        }, undefined, { timeout: 90_000 });
        const loaded = await pageState(page);
        expect(loaded.error).toBeNull();
        expect(loaded.backend).toBe(backend);
        await expect(page.textContent('#backend')).resolves.toMatch(new RegExp(`^Backend: ${backend} — `));
        timings[backend] = loaded.timings;

        // 2) a number and a sentence of number words
        for (const [typed, n] of [['29', 29], ['four thousand seven hundred twenty-one', 4721]] as const) {
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
});
