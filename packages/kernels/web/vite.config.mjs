// The browser test's page (web/src/browser.test.ts builds and serves it). The server sends the
// cross-origin isolation headers a page needs for shared WebAssembly memory, as a site using
// @attnkit/kernels' wasm kernel must.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  publicDir: false,
  clearScreen: false,
  resolve: { dedupe: ['@tensorflow/tfjs-core'] },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    emptyOutDir: true,
    // tfjs-backend-wasm's .wasm files stay files, fetched by URL as in an app (the kernel's module is embedded JavaScript)
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    chunkSizeWarningLimit: 4096,
  },
  server: { host: '127.0.0.1', headers: isolation },
  preview: { host: '127.0.0.1', headers: isolation },
});
