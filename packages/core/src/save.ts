import * as tf from '@tensorflow/tfjs-core';

interface CloningEngine {
  clone?: (x: tf.Tensor) => tf.Tensor;
  state?: { tensorInfo?: Map<tf.DataId, { backend?: { incRef?: (dataId: tf.DataId) => void } }> };
  makeTensorFromTensorInfo?: (info: tf.TensorInfo, backend: unknown) => tf.Tensor;
}

/**
 * A new tensor of `shape` (x's size) on x's data (the data's reference count raised, as a
 * backend's Reshape does), made without running a kernel: no dispatch, no tape node, no
 * profile entry. tf.reshape where the engine lacks what this needs.
 */
function view(engine: CloningEngine, x: tf.Tensor, shape: number[] = x.shape): tf.Tensor {
  const backend = viewBackend(engine, x);
  if (!backend) return tf.reshape(x, shape);
  backend.incRef(x.dataId);
  return engine.makeTensorFromTensorInfo!({ dataId: x.dataId, shape, dtype: x.dtype }, backend);
}

/** The backend holding x's data, where the engine and it have what {@link view} needs. */
function viewBackend(engine: CloningEngine, x: tf.Tensor): { incRef: (dataId: tf.DataId) => void } | null {
  const backend = engine.state?.tensorInfo?.get(x.dataId)?.backend;
  if (typeof backend?.incRef !== 'function' || typeof engine.makeTensorFromTensorInfo !== 'function') return null;
  return backend as { incRef: (dataId: tf.DataId) => void };
}

/**
 * Hands tensors to a `tf.customGrad` forward's `save` without copying their data.
 *
 * tfjs's engine keeps a clone of every tensor a custom gradient saves. On the cpu backend a
 * clone shares the buffer, but on wasm it copies it: saving query, key, value and output of
 * one attention call held four more [B, H, T, d] buffers until the backward pass (32 MiB at
 * T = 4096, H = 8, d = 64). Here the engine gets, for the length of the `save` call only,
 * views (same buffer, their own reference count, made without a kernel call) in place of copies.
 * That is safe because tfjs tensors are immutable (a Variable's `assign` swaps its buffer,
 * leaving the saved one intact), and the engine disposes the views after the backward pass,
 * as it does its copies.
 */
export function saveViews(save: tf.GradSaveFunc, tensors: tf.Tensor[]): void {
  const engine = tf.engine() as unknown as CloningEngine;
  const own = Object.hasOwn(engine, 'clone');
  const previous = engine.clone;
  engine.clone = (x: tf.Tensor) => view(engine, x);
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

/** Backends whose Reshape kernel only counts a reference (webgl's may repack a texture). */
const RESHAPE_IS_A_VIEW = new Set(['cpu', 'wasm', 'webgpu']);

interface TapeEngine extends CloningEngine {
  isTapeOn?: () => boolean;
  addTapeNode?: (
    name: string,
    inputs: tf.NamedTensorMap,
    outputs: tf.Tensor[],
    grad: (dy: tf.Tensor) => Record<string, () => tf.Tensor>,
    saved: tf.Tensor[],
    attrs: object,
  ) => void;
}

/**
 * `tf.reshape(x, shape)` (a `-1` entry inferred as there) as a view: a tensor on x's data made
 * without a kernel call. While a gradient is recorded its tape node hands dy back as a view
 * of x's shape, where tf.reshape records a kernel, saves a copy of x and runs a reshape kernel
 * backward: a transformer's training step reshapes some 150 times. Falls back to tf.reshape
 * (with its errors) where the sizes disagree, on backends whose reshape can do work (webgl),
 * and where the engine lacks what a view needs.
 */
export function reshapeView<R extends tf.Rank = tf.Rank>(x: tf.Tensor, shape: number[]): tf.Tensor<R> {
  const engine = tf.engine() as unknown as TapeEngine;
  const to = shape.includes(-1) && x.size > 0 ? tf.util.inferFromImplicitShape(shape, x.size) : shape;
  const viewable =
    x.dtype !== 'string' &&
    RESHAPE_IS_A_VIEW.has(tf.getBackend()) &&
    viewBackend(engine, x) === (tf.backend() as unknown) &&
    typeof engine.isTapeOn === 'function' &&
    typeof engine.addTapeNode === 'function';
  if (!viewable || tf.util.sizeFromShape(to) !== x.size) {
    return tf.reshape(x, shape) as unknown as tf.Tensor<R>;
  }
  const y = view(engine, x, to);
  if (engine.isTapeOn!()) {
    const from = x.shape;
    engine.addTapeNode!('AttnkitReshapeView', { x }, [y], (dy) => ({ x: () => reshapeView(dy, from) }), [], {});
  }
  return y as tf.Tensor<R>;
}
