/**
 * Loading the wasm module: which build (simd or relaxed), read from disk (Node) or fetched,
 * compiled, and started with as many helper threads as this thread may use.
 */
import { WasmAttention, type WasmBuild } from './wasm-module.js';
import { relaxedSimdSupported } from './wasm-probe.js';
import { type NodeWorkerConstructor, type StartHelper, browserHelpers, canBlock, nodeHelpers } from './wasm-threads.js';

/** Where the build puts the modules: the same URLs from src/ (tests) and from dist/. */
const WASM_URLS: Record<WasmBuild, URL> = {
  simd: new URL('../dist/attention.wasm', import.meta.url),
  relaxed: new URL('../dist/attention-relaxed.wasm', import.meta.url),
};

let preferredBuild: WasmBuild | 'auto' = 'auto';

/**
 * The build later {@link loadWasmAttention} calls load: `'auto'` (the default) picks
 * `relaxed` where {@link relaxedSimdSupported}, else `simd`. Internal (tests run both builds).
 */
export function preferWasmBuild(build: WasmBuild | 'auto'): void {
  preferredBuild = build;
}

/** Reads (Node: from disk; elsewhere: fetch) and compiles one build of the module. */
export async function compileWasmModule(build: WasmBuild): Promise<WebAssembly.Module> {
  const url = WASM_URLS[build];
  if (url.protocol !== 'file:') return WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  // Computed specifiers keep bundlers for the browser from resolving Node built-ins.
  const fsModule = 'node:fs/promises';
  const { readFile } = (await import(/* @vite-ignore */ fsModule)) as { readFile(url: URL): Promise<Uint8Array> };
  return WebAssembly.compile((await readFile(url)) as BufferSource);
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
  if (WASM_URLS[build].protocol === 'file:') {
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
