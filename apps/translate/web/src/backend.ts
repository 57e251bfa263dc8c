/**
 * Picks the TensorFlow.js backend of the page: WebGPU when the browser offers an adapter, else
 * WebGL, else WebAssembly. `?backend=webgpu|webgl|wasm` asks for one (and reports why it is not
 * available instead of silently using another). The WebGPU and wasm backends are loaded on demand;
 * the wasm binaries come from the page's own static files.
 */
import * as tf from '@tensorflow/tfjs';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export const BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface BackendChoice {
  name: BackendName;
  /** What the backend runs on, e.g. the WebGPU adapter or wasm's SIMD support. */
  detail: string;
  /** Backends tried before it and why each was not used. */
  skipped: string[];
}

/** `GPUAdapter.info` (newer than TypeScript's DOM library). */
type AdapterInfo = { vendor?: string; architecture?: string; description?: string };

async function webgpu(): Promise<string> {
  const gpu = 'gpu' in navigator ? navigator.gpu : undefined;
  if (!gpu) throw new Error('this browser has no navigator.gpu');
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error('the browser offers no WebGPU adapter');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('the WebGPU backend failed to start');
  const { vendor = '', architecture = '', description = '' } = (adapter as { info?: AdapterInfo }).info ?? {};
  return [vendor, architecture, description].filter(Boolean).join(' ') || 'unnamed adapter';
}

async function webgl(): Promise<string> {
  // tfjs logs and returns false when no WebGL context can be created
  if (!(await tf.setBackend('webgl'))) throw new Error('no WebGL context could be created');
  return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}`;
}

async function wasm(): Promise<string> {
  const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
  });
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to start');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  return `${simd ? 'SIMD' : 'no SIMD'}, ${threads ? 'threads' : 'one thread'}`;
}

const START: Record<BackendName, () => Promise<string>> = { webgpu, webgl, wasm };

/** Starts `requested`, or the first backend that works in the order WebGPU, WebGL, wasm. */
export async function startBackend(requested: BackendName | 'auto'): Promise<BackendChoice> {
  const order = requested === 'auto' ? BACKENDS : [requested];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const detail = await START[name]();
      await tf.ready();
      return { name, detail, skipped };
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`No TensorFlow.js backend could start (${skipped.join('; ')}).`);
}

/** The backend named by `?backend=` in `search`, or `'auto'`. */
export function requestedBackend(search: string): BackendName | 'auto' {
  const value = new URLSearchParams(search).get('backend');
  return BACKENDS.find((b) => b === value) ?? 'auto';
}
