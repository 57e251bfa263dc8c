import * as tf from '@tensorflow/tfjs-core';

interface CloningEngine {
  clone?: (x: tf.Tensor) => tf.Tensor;
}

/**
 * Hands tensors to a `tf.customGrad` forward's `save` without copying their data.
 *
 * tfjs's engine keeps a clone of every tensor a custom gradient saves. On the cpu backend a
 * clone shares the buffer, but on wasm it copies it: saving query, key, value and output of
 * one attention call held four more [B, H, T, d] buffers until the backward pass (32 MiB at
 * T = 4096, H = 8, d = 64). Here the engine gets, for the length of the `save` call only,
 * views made by `tf.reshape` (same buffer, their own reference count) in place of copies.
 * That is safe because tfjs tensors are immutable (a Variable's `assign` swaps its buffer,
 * leaving the saved one intact), and the engine disposes the views after the backward pass,
 * as it does its copies.
 */
export function saveViews(save: tf.GradSaveFunc, tensors: tf.Tensor[]): void {
  const engine = tf.engine() as unknown as CloningEngine;
  const own = Object.hasOwn(engine, 'clone');
  const previous = engine.clone;
  engine.clone = (x: tf.Tensor) => tf.reshape(x, x.shape);
  try {
    save(tensors);
  } finally {
    if (own) engine.clone = previous;
    else delete engine.clone;
  }
}

/**
 * Whether tfjs is recording a gradient tape (inside tf.grad, tf.grads, optimizer.minimize):
 * outside one, a fused op runs its forward kernel alone, with no custom-gradient scope and
 * none of the views it would save for a backward pass (each an engine call: they were half the
 * kernels of a decoding step).
 */
export function recordingGradients(): boolean {
  return (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;
}
