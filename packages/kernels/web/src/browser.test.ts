/**
 * The wasm kernel in Chromium: builds web/ (the page: src/page.ts), serves it with the
 * cross-origin isolation headers shared WebAssembly memory needs, and checks in Node what the
 * page computed with the fused kernel (forward and gradients) against core's reference path on
 * cpu and the float64 oracle. Chromium has relaxed SIMD, so this is the relaxed build, fetched
 * by URL, as a web app gets it: on the page's main thread, alone (it may not block), and in a
 * Web Worker, on 2 threads (the worker and a helper Web Worker).
 */
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaledDotProductAttention } from '@attnkit/core';
import { TOLERANCES, attentionOracle, attentionOracleGrad, expectTensorsClose, f64, randomValues, useBackend } from '@attnkit/test-utils';
import { CHROMIUM, CHROMIUM_FLAGS, describeInChromium } from '@attnkit/test-utils/chromium';
import * as tf from '@tensorflow/tfjs-core';
import { type Browser, type Page, chromium } from 'playwright-core';
import { type PreviewServer, build, preview } from 'vite';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Inputs, Kernels, Spec } from './calls.js';

const CONFIG = fileURLToPath(new URL('../vite.config.mjs', import.meta.url));

/** Self-attention; causal GQA; cross-attention with a window, Dk != Dv, and keys across two tiles. */
const SPECS: (Spec & { name: string })[] = [
  { name: 'self-attention', B: 1, Hq: 2, Hkv: 2, Tq: 37, Tk: 37, Dk: 16, Dv: 16, causal: false, window: null },
  { name: 'causal GQA', B: 2, Hq: 4, Hkv: 2, Tq: 70, Tk: 70, Dk: 32, Dv: 32, causal: true, window: null },
  { name: 'cross, window, Dk != Dv', B: 1, Hq: 2, Hkv: 1, Tq: 9, Tk: 150, Dk: 24, Dv: 8, causal: false, window: 40 },
];

/** Where the page runs the kernel: its main thread (`kernels`) or its Web Worker (`inWorker`). */
const CONTEXTS = [
  { name: 'page thread', at: 'kernels', threads: 1 },
  { name: 'Web Worker', at: 'inWorker', threads: 2 },
] as const;
type Context = (typeof CONTEXTS)[number]['at'];

describeInChromium('the wasm kernel in Chromium', () => {
  let outDir = '';
  let server: PreviewServer | null = null;
  let browser: Browser | null = null;
  let page: Page | null = null;
  const problems: string[] = [];

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'attnkit-kernels-web-'));
    await build({ configFile: CONFIG, logLevel: 'error', build: { outDir } });
    server = await preview({ configFile: CONFIG, logLevel: 'error', build: { outDir }, preview: { port: 0, open: false } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 60_000 });
    page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.httpServer.address() as AddressInfo).port}/`);
    await useBackend('cpu');
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('loads the relaxed-SIMD build under cross-origin isolation: on the page thread alone, in a Web Worker on 2 threads', async () => {
    for (const { at, threads } of CONTEXTS) {
      const ready = await page!.evaluate((at) => (window as unknown as Record<Context, Kernels>)[at].ready, at);
      expect(ready, at).toEqual({ kernel: { build: 'relaxed', threads }, crossOriginIsolated: true });
    }
    expect(problems).toEqual([]);
  });

  for (const [index, spec] of SPECS.entries()) {
    it.each(CONTEXTS)(`equals the reference and the oracle, forward and gradients: ${spec.name}, $name`, async ({ at }) => {
      const { B, Hq, Hkv, Tq, Tk, Dk, Dv } = spec;
      const shapes = { query: [B, Hq, Tq, Dk], key: [B, Hkv, Tk, Dk], value: [B, Hkv, Tk, Dv], dy: [B, Hq, Tq, Dv] };
      const data = Object.fromEntries(
        Object.entries(shapes).map(([name, shape], i) => [
          name,
          randomValues(
            shape.reduce((a, b) => a * b, 1),
            100 * (index + 1) + i,
          ),
        ]),
      ) as Record<keyof typeof shapes, Float32Array>;
      const inputs: Inputs = { query: Array.from(data.query), key: Array.from(data.key), value: Array.from(data.value), dy: Array.from(data.dy) };
      const got = await page!.evaluate(([at, s, x]) => (window as unknown as Record<Context, Kernels>)[at].run(s, x), [at, spec, inputs] as const);
      expect(got.leaked).toBe(0);

      const slidingWindow = spec.window === null ? null : { left: spec.window };
      const [query, key, value, dy] = (['query', 'key', 'value', 'dy'] as const).map((n) => tf.tensor(data[n], shapes[n]));
      const attend = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
        scaledDotProductAttention(q, k, v, { causal: spec.causal, window: slidingWindow, implementation: 'reference' });
      const output = attend(query!, key!, value!);
      const grads = tf.grads(attend)([query!, key!, value!], dy!);
      expectTensorsClose(got.output, output, { ...TOLERANCES.sameForward, label: 'output vs reference' });
      for (const [i, name] of (['dQuery', 'dKey', 'dValue'] as const).entries()) {
        expectTensorsClose(got[name], grads[i]!, { ...TOLERANCES.sameGrad, label: `${name} vs reference` });
      }

      const oracleInput = {
        query: f64(data.query, shapes.query),
        key: f64(data.key, shapes.key),
        value: f64(data.value, shapes.value),
        causal: spec.causal,
        window: slidingWindow,
      };
      expectTensorsClose(got.output, attentionOracle(oracleInput).output.data, { ...TOLERANCES.oracleForward, label: 'output vs oracle' });
      const oracleGrads = attentionOracleGrad(oracleInput, f64(data.dy, shapes.dy));
      for (const name of ['dQuery', 'dKey', 'dValue'] as const) {
        expectTensorsClose(got[name], oracleGrads[name].data, { ...TOLERANCES.oracleGrad, label: `${name} vs oracle` });
      }
      tf.dispose([query!, key!, value!, dy!, output, ...grads]);
      expect(problems).toEqual([]);
    });
  }
});
