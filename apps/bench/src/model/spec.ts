/**
 * The whole-model benchmark's problem: the translate app's transformer (pre-norm, one
 * embedding table shared by both languages and tied to the output, sinusoidal positions,
 * dropout 0.1, label smoothing 0.1, Adam β = (0.9, 0.98), ε = 1e-9) at its `tiny` and `small`
 * sizes, on a batch of seeded token ids. The PyTorch peer (torch_peer.py) builds the same model
 * from the same numbers.
 */

export const MODEL_SIZES = {
  tiny: { dModel: 64, numHeads: 4, ffDim: 128, numEncoderLayers: 2, numDecoderLayers: 2 },
  small: { dModel: 128, numHeads: 4, ffDim: 512, numEncoderLayers: 3, numDecoderLayers: 3 },
} as const;
export type ModelSize = keyof typeof MODEL_SIZES;

export const VOCAB = 2000;
export const LABEL_SMOOTHING = 0.1;
export const DROPOUT = 0.1;
/** Ids 0, 1, 2 are padding, BOS and EOS; batches draw from the rest. */
export const FIRST_WORD = 3;

/** A [B, T] batch of ids in [FIRST_WORD, VOCAB), a fixed function of (B, T, salt). */
export function batchIds(B: number, T: number, salt: number): number[][] {
  return Array.from({ length: B }, (_, b) =>
    Array.from({ length: T }, (_, t) => FIRST_WORD + ((((b * T + t) * 7919 + salt * 104729) >>> 0) % (VOCAB - FIRST_WORD))),
  );
}

/**
 * Multiply-adds x 2 of one training step (forward + backward ≈ 3x forward) over the dense
 * products only: projections, feed-forward, attention scores and mixes, and the tied output
 * projection (the embedding lookup is a gather, no FLOPs). Used for attained GFLOP/s.
 */
export function trainStepFlops(size: ModelSize, B: number, Ts: number, Tt: number): number {
  const { dModel: d, ffDim: f, numEncoderLayers: ne, numDecoderLayers: nd } = MODEL_SIZES[size];
  const enc = B * Ts * (4 * d * d + 2 * d * f) + 2 * B * Ts * Ts * d;
  const dec = B * Tt * (4 * d * d + 2 * d * f) + 2 * B * Tt * Tt * d + B * Tt * 2 * d * d + B * Ts * 2 * d * d + 2 * B * Tt * Ts * d;
  const out = B * Tt * d * VOCAB;
  return 3 * 2 * (ne * enc + nd * dec + out);
}
