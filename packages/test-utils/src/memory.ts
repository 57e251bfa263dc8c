import * as tf from '@tensorflow/tfjs-core';

/** What {@link peakMemory} measured, in bytes above what was alive before the call. */
export interface PeakMemory {
  /** Peak of distinct tensor buffers: each buffer once, however many tensors view it. */
  peak: number;
  /** The same, without the copies the engine's clone made to save tensors for a backward pass. */
  peakWithoutTape: number;
  /** Peak of those tape copies alone (tfjs-wasm's Identity kernel copies what an op saves). */
  tapeCopies: number;
  /** Peak of tf.memory().numBytes, which counts every view of a buffer (reshape, clone) again. */
  peakNumBytes: number;
}

interface EngineInternals {
  state: { tensorInfo: WeakMap<object, { bytes: number }>; numBytes: number };
  trackTensor(a: tf.Tensor, backend: unknown): void;
  disposeTensor(a: tf.Tensor): void;
  clone(x: tf.Tensor): tf.Tensor;
}

/**
 * Peak memory while `fn` runs, tracked through the engine's own bookkeeping (trackTensor,
 * disposeTensor, clone are wrapped for the call and restored after, even if it throws). The
 * engine-memory tracker of core's tests and of apps/bench's chunked-memory script.
 */
export function peakMemory(fn: () => void): PeakMemory {
  const engine = tf.engine() as unknown as EngineInternals;
  const { trackTensor, disposeTensor, clone } = engine;
  const start = engine.state.numBytes;
  const tapeIds = new Set<object>();
  let live = 0;
  let tape = 0;
  let inClone = false;
  const peaks: PeakMemory = { peak: 0, peakWithoutTape: 0, tapeCopies: 0, peakNumBytes: 0 };
  engine.clone = function (this: EngineInternals, x) {
    inClone = true;
    try {
      return clone.call(this, x);
    } finally {
      inClone = false;
    }
  };
  engine.trackTensor = function (this: EngineInternals, a, backend) {
    const fresh = !this.state.tensorInfo.has(a.dataId);
    trackTensor.call(this, a, backend);
    peaks.peakNumBytes = Math.max(peaks.peakNumBytes, this.state.numBytes - start);
    if (!fresh) return;
    const bytes = this.state.tensorInfo.get(a.dataId)!.bytes;
    live += bytes;
    if (inClone) {
      tape += bytes;
      tapeIds.add(a.dataId);
    }
    peaks.peak = Math.max(peaks.peak, live);
    peaks.peakWithoutTape = Math.max(peaks.peakWithoutTape, live - tape);
    peaks.tapeCopies = Math.max(peaks.tapeCopies, tape);
  };
  engine.disposeTensor = function (this: EngineInternals, a) {
    const info = this.state.tensorInfo.get(a.dataId);
    disposeTensor.call(this, a);
    if (!info || this.state.tensorInfo.has(a.dataId)) return;
    live -= info.bytes;
    if (tapeIds.delete(a.dataId)) tape -= info.bytes;
  };
  try {
    fn();
  } finally {
    Object.assign(engine, { trackTensor, disposeTensor, clone });
  }
  return peaks;
}
