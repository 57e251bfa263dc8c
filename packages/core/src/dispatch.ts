/**
 * Which path runs a call: one rule, {@link choosePath}, for all three entry points.
 */
import { AttentionError } from '@attnkit/masking';
import { fusedUnsupported } from './fused.js';
import type { AttentionDims, AttentionOptions, AttentionPath } from './types.js';

/**
 * Per backend, the scores-matrix size B·Hq·Tq·Tk from which `implementation: 'auto'` runs
 * scaledDotProductAttention chunked: where chunked became as fast as the default path in
 * measurements on cpu and wasm (README, "Long sequences"). Other backends use `wasm`'s value.
 */
export const AUTO_CHUNKED_MIN_SCORES: Readonly<{ cpu: number; wasm: number }> = { cpu: 2 ** 21, wasm: 2 ** 23 };

/**
 * Scores per (batch, kv head) slice, G·Tq·Tk, from which 'auto' takes the sliced path on
 * wasm and cpu. Measured (packages/core/README.md): at B=16, H=8, T=16 on wasm the sliced
 * path is 10x slower than the batched one, at T=64 2x slower, at T=256 3x faster.
 */
export const SLICED_MIN_SCORES = 128 * 128;

/** The paths that never form the [Tq, Tk] weights, so cannot serve a call that returns them. */
const WEIGHTLESS: readonly AttentionPath[] = ['chunked', 'fused'];

/**
 * The path that runs a call of these sizes on `backend` (tf.getBackend()). `wantsWeights`:
 * the call returns the weights (attentionWeights, attentionWithWeights). `'auto'` picks, in
 * order: a fused kernel that takes the call, chunked from {@link AUTO_CHUNKED_MIN_SCORES}
 * (neither when the weights are wanted), sliced on wasm and cpu from
 * {@link SLICED_MIN_SCORES}, else the reference. A path named explicitly runs as named or
 * throws an {@link AttentionError} of `op` saying why; it never falls back.
 */
export function choosePath(
  options: Pick<AttentionOptions, 'implementation' | 'dropout' | 'training'>,
  dims: AttentionDims,
  backend: string,
  wantsWeights: boolean,
  op = 'scaledDotProductAttention',
): AttentionPath {
  const { implementation = 'auto' } = options;
  const refuse = (reason: string) => AttentionError.value(op, `implementation '${implementation}' cannot run: ${reason}`, implementation);
  if (implementation !== 'auto') {
    if (wantsWeights && WEIGHTLESS.includes(implementation)) {
      throw refuse("it never forms the attention weights this call returns; use 'auto', 'reference' or 'sliced'");
    }
    if (implementation === 'fused') {
      const reason = fusedUnsupported(options, dims, backend);
      if (reason !== null) throw refuse(reason);
    }
    return implementation;
  }
  const { B, Hq, Tq, Tk, group } = dims;
  if (!wantsWeights) {
    if (fusedUnsupported(options, dims, backend) === null) return 'fused';
    const chunkedFrom = backend === 'cpu' ? AUTO_CHUNKED_MIN_SCORES.cpu : AUTO_CHUNKED_MIN_SCORES.wasm;
    if (B * Hq * Tq * Tk >= chunkedFrom) return 'chunked';
  }
  const cpuLike = backend === 'wasm' || backend === 'cpu';
  return cpuLike && group * Tq * Tk >= SLICED_MIN_SCORES ? 'sliced' : 'reference';
}
