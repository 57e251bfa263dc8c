/**
 * Measures ONE configuration in its own process, so memory figures are honest and a hang is
 * killed by the parent's time limit. argv[2] is the BenchConfig as JSON; the result goes to
 * stdout as one line after RESULT_MARKER (libraries may print their own lines).
 */
import { attentionOracle } from '@attnkit/test-utils/oracle';
import { randomValues } from '@attnkit/test-utils/random';
import { findImplementation } from './impls/index.js';
import type { BenchImplementation, Problem, Session } from './registry.js';
import { maxAbsDiff, modeFlops } from './stats.js';
import { type BenchConfig, type BenchResult, type Measurement, RESULT_MARKER, UNAVAILABLE } from './types.js';

/** A configuration that cannot run here; reported as "not run: <reason>", not as a failure. */
class NotRun extends Error {}

type Tf = typeof import('@tensorflow/tfjs-core');

async function useTfjsBackend(backend: string, notes: string[]): Promise<Tf> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs'); // registers gradients for forward+backward
  if (backend === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
  if (backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (backend === 'webgpu') {
    const { create, globals } = await import('webgpu');
    Object.assign(globalThis, globals);
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new NotRun(`${UNAVAILABLE}no WebGPU adapter (Dawn found no GPU or Vulkan driver)`);
    notes.push(`adapter: ${[adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ')}`);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
  }
  if (!(await tf.setBackend(backend))) throw new NotRun(`${UNAVAILABLE}tfjs backend '${backend}' failed to initialise`);
  await tf.ready();
  if (backend === 'wasm') {
    notes.push(`wasm simd: ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads: ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`);
  }
  return tf;
}

/** Seeded inputs q [B, H, T, d], k and v [B, Hkv, T, d]; the same for every implementation. */
export function makeProblem(config: BenchConfig, T: number): Problem {
  const { B, H, Hkv, d } = config;
  return {
    config,
    T,
    q: randomValues(B * H * T * d, 1),
    k: randomValues(B * Hkv * T * d, 2),
    v: randomValues(B * Hkv * T * d, 3),
  };
}

/** Float64 reference of what session.output() returns for this problem. */
async function reference(impl: BenchImplementation, problem: Problem, session: Session): Promise<Float64Array> {
  if (impl.oracle) return impl.oracle(problem, session);
  const { B, H, Hkv, d, mode, window, decodeSteps } = problem.config;
  const T = problem.T;
  const decode = mode === 'decode-kv-cache' || mode === 'decode-no-cache';
  const { output } = attentionOracle({
    query: { data: Float64Array.from(problem.q), shape: [B, H, T, d] },
    key: { data: Float64Array.from(problem.k), shape: [B, Hkv, T, d] },
    value: { data: Float64Array.from(problem.v), shape: [B, Hkv, T, d] },
    causal: decode || problem.config.causal,
    window: window === null ? null : { left: window },
  });
  if (!decode) return output.data;
  const rows = new Float64Array(B * H * decodeSteps * d); // [B, H, steps, d]: the generated tokens
  for (let bh = 0; bh < B * H; bh++) rows.set(output.data.subarray((bh * T + T - decodeSteps) * d, (bh * T + T) * d), bh * decodeSteps * d);
  return rows;
}

async function measure(config: BenchConfig): Promise<Measurement> {
  const impl = findImplementation(config.impl);
  const notes: string[] = [];
  const tf = impl.engine === 'tfjs' ? await useTfjsBackend(config.backend, notes) : null;
  const problem = makeProblem(config, config.T);
  const session = await impl.setup(problem);
  const baselineRssBytes = process.memoryUsage().rss;

  // 1) warm-up; the first run is profiled for tfjs's peak memory (an extra run when warmup is 0)
  let tfPeakBytes: number | null = null;
  let firstMs = 0;
  for (let i = 0; i < Math.max(config.warmup, tf ? 1 : 0); i++) {
    const start = performance.now();
    if (i === 0 && tf) tfPeakBytes = (await tf.profile(() => session.run() as unknown as Promise<never>)).peakBytes;
    else await session.run();
    if (i === 0) firstMs = performance.now() - start;
  }
  // 2) timed samples, until the count or the time budget is reached (at least one). A first run
  //    longer than the whole budget is kept as the only sample instead of repeating it.
  const samplesMs: number[] = [];
  let spent = 0;
  if (firstMs > config.budgetMs && config.budgetMs > 0) {
    samplesMs.push(firstMs);
    spent = firstMs;
    notes.push('single cold run: the first run took longer than the sampling budget');
  }
  while (samplesMs.length < config.samples && (samplesMs.length === 0 || spent < config.budgetMs)) {
    const start = performance.now();
    await session.run();
    const ms = performance.now() - start;
    samplesMs.push(ms);
    spent += ms;
  }
  session.dispose();
  const peakRssBytes = process.resourceUsage().maxRSS * 1024;

  // 3) max error against the float64 oracle, on a short sequence
  let maxError: number | null = null;
  let errorT: number | null = null;
  if (config.errorT > 0 && config.mode !== 'matmul') {
    errorT = Math.min(config.T, Math.max(config.errorT, config.decodeSteps + 1));
    const small = makeProblem(config, errorT);
    const check = await impl.setup(small);
    maxError = maxAbsDiff(await check.output(), await reference(impl, small, check));
    check.dispose();
  }
  const flops = impl.flops ? impl.flops(config) : modeFlops(config.mode, config, config.decodeSteps, config.matmulN);
  return { samplesMs, flops, tfPeakBytes, baselineRssBytes, peakRssBytes, maxError, errorT, notes };
}

async function main() {
  const config = JSON.parse(process.argv[2] ?? '') as BenchConfig;
  let result: BenchResult;
  let code = 0;
  try {
    result = { config, status: 'ok', measurement: await measure(config) };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    result = { config, status: 'not-run', reason: err instanceof NotRun ? message : `failed: ${message}` };
    code = err instanceof NotRun ? 0 : 1;
  }
  process.stdout.write(`\n${RESULT_MARKER}${JSON.stringify(result)}\n`, () => process.exit(code));
}

await main();
