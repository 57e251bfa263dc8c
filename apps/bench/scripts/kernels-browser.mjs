// Forward time of the fused wasm kernel in headless Chromium, as a web app runs it: on a page's
// main thread (which may not block, so the kernel runs on it alone) and in a Web Worker (the
// worker plus one helper Web Worker: 2 threads). Relaxed-SIMD build (Chromium has it).
// B=1, H=8, d=64, forward, not causal; T=1024 unless given. Median of `repeats` calls each.
//
//   pnpm build && node apps/bench/scripts/kernels-browser.mjs [T] [repeats]
//
// Needs Debian's chromium (or CHROMIUM_PATH). Builds and serves packages/kernels/web/ (the kernels' browser-test page)
// with the cross-origin isolation headers shared WebAssembly memory needs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build, preview } from 'vite';

const T = Number(process.argv[2] ?? 1024);
const repeats = Number(process.argv[3] ?? 9);
const spec = { B: 1, Hq: 8, Hkv: 8, Tq: T, Tk: T, Dk: 64, Dv: 64, causal: false, window: null };
const configFile = fileURLToPath(new URL('../../../packages/kernels/web/vite.config.mjs', import.meta.url));
const outDir = mkdtempSync(join(tmpdir(), 'attnkit-kernels-speed-'));
await build({ configFile, logLevel: 'error', build: { outDir } });
const server = await preview({ configFile, logLevel: 'error', build: { outDir }, preview: { port: 0, open: false } });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`http://127.0.0.1:${server.httpServer.address().port}/`);
  const flops = 4 * spec.B * spec.Hq * T * T * spec.Dk;
  console.log(`fused forward, B=1, H=8, d=64, T=${T}, Chromium ${browser.version()}, median of ${repeats} calls:`);
  for (const at of ['kernels', 'inWorker', 'kernels', 'inWorker']) {
    const { kernel } = await page.evaluate((at) => window[at].ready, at);
    const ms = await page.evaluate(([at, s, n]) => window[at].time(s, n), [at, spec, repeats]);
    const where = at === 'kernels' ? 'page thread' : 'Web Worker ';
    console.log(`  ${where}: ${kernel.build} build, ${kernel.threads} thread(s): ${ms.toFixed(1)} ms, ${(flops / ms / 1e6).toFixed(1)} GFLOP/s`);
  }
} finally {
  await browser.close();
  await server.close();
  rmSync(outDir, { recursive: true, force: true });
}
