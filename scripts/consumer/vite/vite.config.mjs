// A user's Vite config for a page with @attnkit/kernels' wasm kernel: nothing attnkit-specific,
// only the cross-origin isolation headers that shared WebAssembly memory needs (dev and preview).
import { defineConfig } from 'vite';

const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  server: { host: '127.0.0.1', headers },
  preview: { host: '127.0.0.1', headers },
  build: { target: 'es2022', chunkSizeWarningLimit: 8192 },
  logLevel: 'error',
});
