// The consumer test's bundler half (run by scripts/pack-install.sh in the fresh npm project, next to
// the tarballs' packages): writes the page's fixture in Node, then serves the page with Vite's dev
// server (dependency pre-bundling as a user gets it) and with `vite build` + preview, runs it in
// headless Chromium each time, and checks the fused kernel's output against the reference path
// and the positional model's against Node's. Exits non-zero on the first failure.
//   node run.mjs   (in a directory holding this folder's files and node_modules)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PositionEmbedding, SinusoidalPositionEncoding } from '@attnkit/positional';
import { chromium } from 'playwright-core';
import { build, createServer, preview } from 'vite';

const root = process.cwd();
let seed = 7;
const random = (n) => Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
const tensor = (shape) => ({ shape, values: random(shape.reduce((a, b) => a * b, 1)) });

// 1) fixture: attention inputs, and a model of positional layers with its output in Node
await tf.setBackend('cpu');
const model = tf.sequential({
  layers: [new SinusoidalPositionEncoding({ batchInputShape: [null, 6, 8] }), new PositionEmbedding({ maxLength: 16, initializer: 'ones' })],
});
const x = tensor([2, 6, 8]);
const y = Array.from(await model.predict(tf.tensor(x.values, x.shape)).data());
const fixture = { q: tensor([1, 4, 70, 16]), k: tensor([1, 2, 70, 16]), v: tensor([1, 2, 70, 16]), x, y, topology: model.toJSON(null, false) };
writeFileSync(join(root, 'fixture.json'), JSON.stringify(fixture));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
let failed = false;
async function check(how, url) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  const r = await page.evaluate(() => window.result);
  await page.close();
  const problems = [];
  if (r.error) problems.push(r.error);
  else {
    if (r.backend !== 'wasm') problems.push(`backend ${r.backend}, not wasm`);
    if (!r.crossOriginIsolated) problems.push('not cross-origin isolated');
    if (!r.kernel) problems.push('the fused wasm kernel did not load');
    if (!(r.attentionDiff <= 1e-5)) problems.push(`fused vs reference max |diff| ${r.attentionDiff} > 1e-5`);
    if (!(r.positionalDiff <= 1e-5)) problems.push(`positional model vs Node max |diff| ${r.positionalDiff} > 1e-5`);
  }
  problems.push(...errors.map((e) => `page error: ${e}`));
  if (problems.length > 0) {
    failed = true;
    console.error(`pack-install: the Vite page (${how}) failed:\n  ${problems.join('\n  ')}`);
  } else {
    console.log(
      `pack-install: the Vite page (${how}) in Chromium ${browser.version()}: fused wasm kernel (${r.kernel.build} build, ${r.kernel.threads} thread) ` +
        `= reference within ${r.attentionDiff.toExponential(1)}; ${r.layers.join(' + ')} from JSON = Node within ${r.positionalDiff.toExponential(1)}`,
    );
  }
}

try {
  // 2) the dev server, with Vite's default dependency pre-bundling
  const dev = await createServer({ root, configFile: join(root, 'vite.config.mjs'), server: { port: 0 } });
  await dev.listen();
  await check('vite dev server', `http://127.0.0.1:${dev.httpServer.address().port}/`);
  await dev.close();
  // 3) a production build (tree-shaken), served by vite preview
  const outDir = mkdtempSync(join(tmpdir(), 'attnkit-vite-build-'));
  await build({ root, configFile: join(root, 'vite.config.mjs'), build: { outDir, emptyOutDir: true } });
  const server = await preview({ root, configFile: join(root, 'vite.config.mjs'), build: { outDir }, preview: { port: 0 } });
  await check('vite build + preview', `http://127.0.0.1:${server.httpServer.address().port}/`);
  await server.close();
  rmSync(outDir, { recursive: true, force: true });
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
