/** @attnkit/core: one entry per `implementation` it lists, so new paths appear here by themselves. */
import { IMPLEMENTATIONS, scaledDotProductAttention } from '@attnkit/core';
import { registerFusedAttention } from '@attnkit/kernels';
import type { BenchImplementation } from '../registry.js';
import { tfjsAttentionSession } from './tfjs-session.js';

const DESCRIPTIONS: Record<string, string> = {
  auto: "attnkit's default path (what a user gets without choosing)",
  reference: 'attnkit reference: batched rank-4 matMuls, the readable spec',
  sliced: 'attnkit sliced: one rank-2 matMul per (batch, kv head)',
  fused: "attnkit fused: @attnkit/kernels' flash kernels (wasm SIMD, WebGPU WGSL), registered for the wasm and webgpu backends",
};

export const attnkitImplementations: BenchImplementation[] = IMPLEMENTATIONS.map((implementation) => ({
  name: `attnkit:${implementation}`,
  description: DESCRIPTIONS[implementation] ?? `attnkit implementation '${implementation}'`,
  engine: 'tfjs',
  level: 'attention',
  // @attnkit/kernels registers its fused kernels for wasm and webgpu
  backends: implementation === 'fused' ? ['wasm', 'webgpu'] : ['cpu', 'wasm', 'webgpu'],
  modes: ['forward', 'forward+backward', 'decode-kv-cache', 'decode-no-cache'],
  setup: async (problem) => {
    // Every attnkit path runs with the fused kernels registered, as a user of @attnkit/kernels
    // gets them: 'auto' then dispatches to them on wasm and webgpu.
    await registerFusedAttention();
    return tfjsAttentionSession(problem, (q, k, v, { causal, window }) =>
      scaledDotProductAttention(q, k, v, {
        causal,
        window: window === null ? null : { left: window },
        implementation,
      }),
    );
  },
}));
