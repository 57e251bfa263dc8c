// The page of apps/translate: `pnpm --filter @attnkit/translate serve` (dev server) or `web:build`
// then `web:preview`. Everything it loads comes from this server: the checkpoint
// (../checkpoints/numbers.ckpt) and the tfjs wasm binaries are imported with `?url`, so the build
// emits them as hashed static files beside the page and the dev server serves them from where they are.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const nodeCheckpoint = fileURLToPath(new URL('../src/checkpoint.ts', import.meta.url));
const browserCheckpoint = fileURLToPath(new URL('../src/checkpoint.browser.ts', import.meta.url));

/**
 * Keeps Node out of the page: `src/checkpoint.ts` (node:fs) is replaced by its browser
 * counterpart (same parser, no file system), and any other `node:` import fails the build
 * instead of being silently stubbed.
 */
const browserOnly = {
  name: 'attnkit-browser-only',
  enforce: 'pre',
  async resolveId(source, importer, options) {
    if (source.startsWith('node:')) throw new Error(`${importer} imports ${source}, which does not exist in a browser`);
    if (!source.includes('checkpoint')) return null;
    const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
    return resolved?.id === nodeCheckpoint ? browserCheckpoint : null;
  },
};

/**
 * `virtual:attnkit-models`: the URLs of the checkpoints the page may load, as `?url` imports so
 * the build emits them beside the page: `numbers` (always, checkpoints/numbers.ckpt) and `ding`
 * (the sentence model, checkpoints/ding/model.ckpt, only when it exists; `ATTNKIT_DING_CHECKPOINT`
 * names another file, as the end-to-end test does with a model it makes).
 */
const numbersCheckpoint = fileURLToPath(new URL('../checkpoints/numbers.ckpt', import.meta.url));
const dingCheckpoint = process.env.ATTNKIT_DING_CHECKPOINT || fileURLToPath(new URL('../checkpoints/ding/model.ckpt', import.meta.url));
const models = {
  name: 'attnkit-models',
  resolveId(source) {
    return source === 'virtual:attnkit-models' ? '\0virtual:attnkit-models' : null;
  },
  load(id) {
    if (id !== '\0virtual:attnkit-models') return null;
    const ding = existsSync(dingCheckpoint);
    return [
      `import numbers from ${JSON.stringify(`${numbersCheckpoint}?url`)};`,
      ding ? `import ding from ${JSON.stringify(`${dingCheckpoint}?url`)};` : 'const ding = null;',
      'export default { numbers, ding };',
    ].join('\n');
  },
};

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  clearScreen: false,
  plugins: [browserOnly, models],
  resolve: {
    // one copy of tfjs: two would register backends and kernels twice
    dedupe: ['@tensorflow/tfjs', '@tensorflow/tfjs-core'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // a .ckpt must stay a file, however small a future model is
    assetsInlineLimit: (file) => (file.endsWith('.ckpt') || file.endsWith('.wasm') ? false : undefined),
    chunkSizeWarningLimit: 4096,
  },
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
});
