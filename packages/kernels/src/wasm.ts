/**
 * The WebAssembly SIMD attention kernel's JS side, by role: wasm-module.ts (the loaded module
 * and the copying in and out of its memory), wasm-layout.ts (memory layout and parameter
 * slots), wasm-threads.ts (helper threads), wasm-probe.ts (relaxed-SIMD probe) and
 * wasm-loader.ts (build choice, compile, start). This file re-exports them for the rest of the
 * package.
 */
export { compileWasmModule, loadWasmAttention, preferWasmBuild } from './wasm-loader.js';
export { WasmAttention, setMinMacsPerThread } from './wasm-module.js';
export type { BackwardInputs, Broadcast, CallShape, ForwardInputs, Gradients, MatMulEpilogue, MatMulShape, WasmBuild } from './wasm-module.js';
export { relaxedSimdSupported } from './wasm-probe.js';
export type { HelperData, StartHelper } from './wasm-threads.js';
