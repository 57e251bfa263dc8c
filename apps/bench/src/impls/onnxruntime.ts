/**
 * onnxruntime, the engine a Node user picks for inference: onnxruntime-node (native CPU
 * execution provider; its install script only fetches GPU add-ons and stays disabled) and
 * onnxruntime-web's wasm build run in Node. Both run the exporter-style graph of onnx-model.ts
 * with every graph optimization on.
 */
import type { BenchConfig, Backend } from '../types.js';
import type { BenchImplementation, Problem, Session } from '../registry.js';
import { attentionModel } from './onnx-model.js';

/** The slice of the onnxruntime API both packages share. */
export interface OrtModule {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: {
    create(
      model: Uint8Array,
      options: Record<string, unknown>,
    ): Promise<{
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dispose?(): void }>>;
      release(): Promise<void>;
    }>;
  };
  env: { wasm?: { numThreads?: number } };
}

export async function loadOrt(pkg: 'onnxruntime-node' | 'onnxruntime-web'): Promise<OrtModule> {
  return (await import(pkg)) as unknown as OrtModule;
}

/** Additive [T, T] bias of the causal / window mask (large negative = masked), or null. */
export function maskBias(T: number, causal: boolean, window: number | null): Float32Array | null {
  if (!causal && window === null) return null;
  const bias = new Float32Array(T * T);
  for (let i = 0; i < T; i++)
    for (let j = 0; j < T; j++) {
      const masked = (causal && j > i) || (window !== null && j < i - window);
      bias[i * T + j] = masked ? -1e9 : 0;
    }
  return bias;
}

export function sessionOptions(pkg: 'onnxruntime-node' | 'onnxruntime-web', threads: number): Record<string, unknown> {
  const options: Record<string, unknown> = { graphOptimizationLevel: 'all' };
  if (pkg === 'onnxruntime-node' && threads > 0) options.intraOpNumThreads = threads;
  if (pkg === 'onnxruntime-web') options.executionProviders = ['wasm'];
  return options;
}

async function setupOrt(pkg: 'onnxruntime-node' | 'onnxruntime-web', problem: Problem): Promise<Session> {
  const ort = await loadOrt(pkg);
  const { B, H, d, causal, window, ortThreads } = problem.config;
  const T = problem.T;
  if (pkg === 'onnxruntime-web' && ort.env.wasm && ortThreads > 0) ort.env.wasm.numThreads = ortThreads;
  const model = attentionModel({ B, H, T, d, scale: 1 / Math.sqrt(d), bias: maskBias(T, causal, window) });
  const session = await ort.InferenceSession.create(model, sessionOptions(pkg, ortThreads));
  const dims = [B, H, T, d];
  const feeds = {
    q: new ort.Tensor('float32', problem.q, dims),
    k: new ort.Tensor('float32', problem.k, dims),
    v: new ort.Tensor('float32', problem.v, dims),
  };
  const output = async () => {
    const { y } = await session.run(feeds);
    const data = (y!.data as Float32Array).slice();
    y!.dispose?.();
    return data;
  };
  return { run: async () => void (await output()), output, dispose: () => void session.release() };
}

function unsupported(c: BenchConfig): string | null {
  return c.Hkv !== c.H ? 'the exporter-style graph has no GQA (repeat kv heads before exporting)' : null;
}

function ortEntry(pkg: 'onnxruntime-node' | 'onnxruntime-web', backend: Backend, description: string): BenchImplementation {
  return {
    name: pkg,
    description,
    engine: pkg,
    level: 'attention',
    backends: [backend],
    // Decoding needs a graph with past key/value inputs and outputs; not built yet.
    modes: ['forward'],
    unsupported,
    setup: (problem) => setupOrt(pkg, problem),
  };
}

export const onnxruntimeNode = ortEntry(
  'onnxruntime-node',
  'native',
  'onnxruntime-node 1.30, native CPU provider, MatMul→Softmax→MatMul graph, all optimizations',
);
export const onnxruntimeWeb = ortEntry('onnxruntime-web', 'wasm', "onnxruntime-web 1.30's wasm build in Node, same graph");
