/**
 * Loading the wasm module: which build (simd or relaxed), compiled from the bytes the build
 * embeds, and started with as many helper threads as this thread may use.
 */
import { WASM_BASE64 } from '../dist/wasm-bytes.js';
import { WasmAttention, type WasmBuild } from './wasm-module.js';
import { relaxedSimdSupported } from './wasm-probe.js';
import { type NodeWorkerConstructor, type StartHelper, browserHelpers, canBlock, nodeHelpers } from './wasm-threads.js';

/** Whether this is Node (or a runtime with its built-ins): helper threads are worker_threads there. */
const isNode = typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string';

let preferredBuild: WasmBuild | 'auto' = 'auto';

/**
 * The build later {@link loadWasmAttention} calls load: `'auto'` (the default) picks
 * `relaxed` where {@link relaxedSimdSupported}, else `simd`. Internal (tests run both builds).
 */
export function preferWasmBuild(build: WasmBuild | 'auto'): void {
  preferredBuild = build;
}

/**
 * Compiles one build of the module from the bytes the build embeds in `dist/wasm-bytes.js`
 * (the same path from src/, for tests, and from dist/): no file to fetch, so no bundler has to
 * know about it (Vite's dev server served its HTML page in place of a fetched `.wasm`).
 */
export async function compileWasmModule(build: WasmBuild): Promise<WebAssembly.Module> {
  const text = atob(WASM_BASE64[build]);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return WebAssembly.compile(bytes);
}

/**
 * Compiles the module, the relaxed-SIMD build where the engine supports it (see
 * {@link preferWasmBuild}), and starts `threads - 1` helper threads (default: logical cores, at
 * most 4) where this thread may block while they work: in Node (worker_threads), and in a
 * browser's Web Worker (helper Web Workers). A browser page's main thread may not block, so
 * there the module runs on it alone.
 */
export async function loadWasmAttention(requested?: number): Promise<WasmAttention> {
  const build: WasmBuild = preferredBuild === 'auto' ? (relaxedSimdSupported() ? 'relaxed' : 'simd') : preferredBuild;
  if (build === 'relaxed' && !relaxedSimdSupported()) {
    throw new Error('@attnkit/kernels: the relaxed-SIMD build was asked for, but this WebAssembly engine has no relaxed SIMD');
  }
  const module = await compileWasmModule(build);
  let cores: number;
  let startHelper: StartHelper | null = null;
  if (isNode) {
    const osModule = 'node:os';
    cores = ((await import(/* @vite-ignore */ osModule)) as { availableParallelism(): number }).availableParallelism();
    if (canBlock()) {
      const threadsModule = 'node:worker_threads';
      startHelper = nodeHelpers(((await import(/* @vite-ignore */ threadsModule)) as { Worker: NodeWorkerConstructor }).Worker);
    }
  } else {
    cores = globalThis.navigator?.hardwareConcurrency ?? 1;
    if (canBlock() && typeof Worker === 'function') startHelper = browserHelpers();
  }
  const threads = Math.max(1, Math.floor(requested ?? Math.min(cores, 4)));
  return WasmAttention.start(module, build, threads, startHelper);
}
