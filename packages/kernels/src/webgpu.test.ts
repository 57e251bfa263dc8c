import { AttentionError, type AttentionOptions, FUSED_ATTENTION_KERNEL, fusedAvailable, scaledDotProductAttention } from '@attnkit/core';
import {
  ATTENTION_CASES,
  type AttentionCase,
  buildCase,
  caseOptions,
  expectNoLeak,
  expectSameAsReference,
  expectTensorsClose,
  expectThrowsWithoutLeak,
  outputAndGrads,
  randomCase,
  randomTensor,
  TOLERANCES,
  useBackend,
} from '@attnkit/test-utils';
import { describeWithWebGPU } from '@attnkit/test-utils/chromium';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { registerWebGPUAttention, unregisterFusedAttention, WEBGPU_MAX_HEAD_DIM } from './index.js';

// The WebGPU kernel on tfjs's webgpu backend (Dawn over SwiftShader here; vitest.config.mjs
// points Dawn at it) against core's reference path on the cpu backend: forward within 1e-5
// relative, gradients within 1e-4 relative (atol for entries near zero); the oracle table
// also against the float64 oracle.
const { sameForward: SAME_FORWARD } = TOLERANCES;

const NO_ADAPTER =
  "no WebGPU adapter: Dawn (npm `webgpu`) found no Vulkan driver. Install Debian's chromium package " +
  '(`apt-get install chromium`: its SwiftShader driver and Vulkan loader in /usr/lib/chromium are picked up by ' +
  'vitest.config.mjs), or set VK_ICD_FILENAMES (and LD_LIBRARY_PATH for libvulkan.so.1) to a GPU driver.';

let gpuReady: Promise<void> | null = null;

/** Dawn in Node as navigator.gpu, then tfjs's webgpu backend; throws (never skips) without an adapter. */
async function useWebGPU(): Promise<void> {
  gpuReady ??= startWebGPU();
  await gpuReady;
  await useBackend('webgpu');
}

async function startWebGPU(): Promise<void> {
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error(NO_ADAPTER);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
}

interface Result {
  output: Float32Array;
  grads: Float32Array[];
  shapes: number[][];
}

/** Output and gradients of case `c` on the active backend, read back and disposed. */
async function runCase(c: AttentionCase, implementation: AttentionOptions['implementation']): Promise<Result> {
  const built = buildCase(c);
  const options = { ...caseOptions(c, built), implementation };
  const { output, grads } = outputAndGrads(built, (q, k, v, bias) => scaledDotProductAttention(q, k, v, { ...options, bias }));
  const result = {
    // read asynchronously: tfjs-backend-webgpu's dataSync needs OffscreenCanvas, absent in Node
    output: (await output.data()) as Float32Array,
    grads: (await Promise.all(grads.map((g) => g.data()))) as Float32Array[],
    shapes: [output.shape, ...grads.map((g) => g.shape)],
  };
  tf.dispose([output, ...grads]);
  built.dispose();
  return result;
}

/** The webgpu kernel's results on `cases` equal the reference path's on cpu (and the oracle when asked). */
async function checkCases(cases: AttentionCase[], withOracle: boolean): Promise<void> {
  await useBackend('cpu');
  const reference: Result[] = [];
  for (const c of cases) reference.push(await runCase(c, 'reference'));
  await useBackend('webgpu');
  for (const [n, c] of cases.entries()) {
    const fused = await runCase(c, 'fused');
    expect(fused.shapes, `${c.name} shapes`).toEqual(reference[n]!.shapes);
    const built = withOracle ? buildCase(c) : null;
    expectSameAsReference(c.name, fused, reference[n]!, built ?? undefined);
    built?.dispose();
  }
}

describeWithWebGPU('fused attention on webgpu', () => {
  beforeAll(async () => {
    await useWebGPU();
    registerWebGPUAttention();
  });

  it('equals the reference (cpu) and the oracle on the whole oracle table', async () => {
    await checkCases(ATTENTION_CASES, true);
  });

  it('equals the reference (cpu) on 200 random configurations, forward and gradients, from a handful of pipelines', async () => {
    await checkCases(
      Array.from({ length: 200 }, (_, i) => randomCase(i + 1)),
      false,
    );
    // sizes are uniforms: every shape with head dims <= 16 and Tq <= 32 shares one pipeline per
    // program (forward, copy, stats, dQ, dK/dV, dBias)
    const cache = (tf.backend() as unknown as { pipelineCache: Record<string, unknown> }).pipelineCache;
    const ours = Object.keys(cache).filter((key) => key.startsWith('attnkit'));
    expect(ours.length, ours.join('\n')).toBe(6);
  });

  it('equals the reference across tile edges and head-dim buckets', async () => {
    // forward blocks are 64 query rows (16 when Tq <= 32), key tiles up to 64 (fewer for large
    // head dims), dK/dV blocks 64 keys: lengths crossing all of them, band tiles skipped whole,
    // and head dims in the 64 and 256 buckets (Dk != Dv), with every masking kind
    const base = { B: 1, Hq: 4, Hkv: 2, Dk: 13, Dv: 9 };
    await checkCases(
      [
        { ...base, name: 'long causal Tq < Tk', Tq: 70, Tk: 150, causal: true },
        { ...base, name: 'long window + padding', Tq: 140, Tk: 140, window: { left: 40, right: 5 }, mask: { shape: [1, 1, 1, 140] } },
        { ...base, name: 'long bias per head', Tq: 70, Tk: 130, bias: [1, 4, 70, 130] },
        { ...base, name: 'd = 64, causal, GQA', Tq: 70, Tk: 70, Dk: 64, Dv: 64, causal: true },
        { ...base, name: 'Dk = 37, Dv = 200, mask and bias', Hq: 2, Hkv: 1, Tq: 9, Tk: 70, Dk: 37, Dv: 200, bias: [9, 70], mask: { shape: [2, 9, 70] } },
      ],
      false,
    );
  });

  it("'auto' runs the fused kernel when one is registered", async () => {
    const q = randomTensor([1, 2, 40, 8], 3);
    const k = randomTensor([1, 2, 40, 8], 4);
    const kernel = tf.getKernel(FUSED_ATTENTION_KERNEL, 'webgpu')!;
    const calls = vi.spyOn(kernel, 'kernelFunc');
    const auto = scaledDotProductAttention(q, k, k, { causal: true });
    expect(calls).toHaveBeenCalledTimes(1);
    calls.mockRestore();
    const fused = scaledDotProductAttention(q, k, k, { causal: true, implementation: 'fused' });
    expect(Array.from(await auto.data())).toEqual(Array.from(await fused.data()));
    tf.dispose([q, k, auto, fused]);
  });

  it('leaks no tensor and no backend buffer, forward or backward', async () => {
    const q = randomTensor([2, 4, 9, 8], 1);
    const k = randomTensor([2, 2, 7, 8], 2);
    const bias = randomTensor([1, 4, 9, 7], 3);
    const mask = tf.tensor(
      Array.from({ length: 63 }, (_, i) => i % 3 !== 0),
      [9, 7],
      'bool',
    );
    const buffers = () => tf.backend().numDataIds();
    const before = buffers();
    await expectNoLeak(() => scaledDotProductAttention(q, k, k, { implementation: 'fused', bias, mask, causal: true }));
    await expectNoLeak(() => scaledDotProductAttention(q, k, k, { implementation: 'fused', causal: true }));
    await expectNoLeak(() =>
      tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, b, { implementation: 'fused', bias: c, mask })))([
        q,
        k,
        bias,
      ]),
    );
    await expectNoLeak(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(scaledDotProductAttention(a, b, b, { implementation: 'fused' })))([q, k]));
    expect(buffers() - before, 'backend buffers leaked').toBe(0);
    tf.dispose([q, k, bias, mask]);
  });

  it(`declines head dims above ${WEBGPU_MAX_HEAD_DIM}: 'auto' takes core's own path, 'fused' throws`, async () => {
    const q = randomTensor([1, 1, 3, WEBGPU_MAX_HEAD_DIM + 1], 1);
    const err = expectThrowsWithoutLeak(
      () => scaledDotProductAttention(q, q, q, { implementation: 'fused' }),
      `scaledDotProductAttention: implementation 'fused' cannot run: the webgpu fused kernel takes head dims up to ${WEBGPU_MAX_HEAD_DIM}, but got 'fused'`,
    );
    expect(err).toBeInstanceOf(AttentionError);
    const auto = scaledDotProductAttention(q, q, q, { causal: true });
    const reference = scaledDotProductAttention(q, q, q, { causal: true, implementation: 'reference' });
    expectTensorsClose(await auto.data(), await reference.data(), SAME_FORWARD);
    tf.dispose([q, auto, reference]);
  });

  it('dropout while training falls back under auto', async () => {
    const q = randomTensor([1, 1, 6, 4], 5);
    const auto = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 3 });
    const sliced = scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed: 3, implementation: 'sliced' });
    expectTensorsClose(await auto.data(), await sliced.data(), SAME_FORWARD);
    tf.dispose([q, auto, sliced]);
  });
});

describeWithWebGPU('webgpu without registration', () => {
  beforeAll(async () => {
    await useWebGPU();
    registerWebGPUAttention();
    unregisterFusedAttention();
  });
  afterAll(() => registerWebGPUAttention());

  it('core reports no fused kernel and refuses an explicit fused call', () => {
    expect(fusedAvailable()).toBe(false);
    const q = randomTensor([1, 1, 3, 4], 1);
    expectThrowsWithoutLeak(
      () => scaledDotProductAttention(q, q, q, { implementation: 'fused' }),
      "scaledDotProductAttention: implementation 'fused' cannot run: no AttnkitFusedAttention kernel registered for backend 'webgpu', but got 'fused'",
    );
    q.dispose();
  });
});
