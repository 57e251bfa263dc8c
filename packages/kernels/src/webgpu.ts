/**
 * The fused attention kernels for tfjs's `webgpu` backend: WGSL programs (webgpu-shaders.ts)
 * run through the backend's own `runWebGPUProgram`, so tfjs-backend-webgpu is never imported
 * here (users of the wasm kernel need not install it).
 *
 * A tfjs program has one output buffer; the forward writes output and lse into one packed
 * buffer and the dK/dV program writes both into one, then a copy program splits them.
 */
import { type AttentionDims, AttentionError, type FusedAttentionAttrs } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  ATTENTION_UNIFORMS,
  BACKWARD_INPUTS,
  COPY_INPUTS,
  COPY_UNIFORMS,
  copySource,
  dbiasSource,
  dkvSource,
  dqSource,
  FORWARD_INPUTS,
  FORWARD_WORKGROUP,
  forwardSource,
  SPLIT,
  STATS_INPUTS,
  statsSource,
  WORKGROUP,
} from './webgpu-shaders.js';
import { stridesOf } from './strides.js';

/** The fields of tfjs-backend-webgpu's WebGPUProgram these kernels set. */
interface Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  uniforms: string;
  getUserCode: () => string;
}

type Uniform = { type: 'int32' | 'float32'; data: number[] };

/** What the kernels need of tfjs-backend-webgpu's WebGPUBackend. */
interface WebGPUBackend {
  device: { limits: { maxComputeWorkgroupStorageSize: number } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): tf.TensorInfo;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  runWebGPUProgram(program: Program, inputs: tf.TensorInfo[], dtype: tf.DataType, uniforms?: Uniform[], output?: tf.TensorInfo): tf.TensorInfo;
}

/** Largest head dim (Dk and Dv) the WebGPU kernels take. */
export const WEBGPU_MAX_HEAD_DIM = 256;

/** Why the WebGPU kernels cannot run a call (head dims above the limit), or null: core's `'auto'` then takes another path. */
export function webgpuSupports({ Dk, Dv }: AttentionDims): string | null {
  return Math.max(Dk, Dv) > WEBGPU_MAX_HEAD_DIM ? `the webgpu fused kernel takes head dims up to ${WEBGPU_MAX_HEAD_DIM}` : null;
}

/** Head-dim bucket compiled into the attention shaders: the power of two >= 16 holding Dk and Dv. */
function bucketOf(Dk: number, Dv: number): number {
  let dm = 16;
  while (dm < Math.max(Dk, Dv)) dm *= 2;
  return dm;
}

/**
 * Tile rows BK: the largest power of two <= 64 whose workgroup memory fits the device's limit
 * (at least 16 KiB in WebGPU): the forward's padded K/V tiles 2·BK·(DM + 4) floats and its
 * 2·FORWARD_WORKGROUP merge slots, more than the backward's 2·BK·(DM + 1). At least SPLIT.
 */
function tileOf(backend: WebGPUBackend, dm: number): number {
  const bytes = backend.device.limits.maxComputeWorkgroupStorageSize;
  let bk = 64;
  while (bk > SPLIT && (2 * bk * (dm + 4) + 2 * FORWARD_WORKGROUP + 4) * 4 > bytes) bk /= 2;
  return bk;
}

function program(key: string, names: string[], uniforms: string, threads: number, code: () => string, workgroup = WORKGROUP): Program {
  return {
    variableNames: names,
    outputShape: [1],
    shaderKey: key,
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(threads / workgroup), 1, 1],
    workgroupSize: [workgroup, 1, 1],
    uniforms,
    getUserCode: code,
  };
}

/**
 * The same buffer seen as a [1] tensor: tfjs keys its pipeline cache on the input and output
 * shapes' ranks and broadcast pattern; the shaders read sizes from their own uniforms, so
 * every call presents the same shapes and reuses the same pipelines.
 */
function flat(t: tf.TensorInfo): tf.TensorInfo {
  return { dataId: t.dataId, dtype: t.dtype, shape: [1] };
}

interface Call extends Omit<AttentionDims, 'group'> {
  /** Head-dim bucket compiled into the shaders. */
  dm: number;
  /** Key/value tile rows. */
  bk: number;
  uniforms: Uniform[];
}

function callOf(backend: WebGPUBackend, inputs: tf.NamedTensorInfoMap, attrs: FusedAttentionAttrs): Call {
  const { query, key, value, mask, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const [B, Hq, Tq, Dk] = query!.shape as [number, number, number, number];
  const [, Hkv, Tk] = key!.shape as [number, number, number];
  const Dv = value!.shape[3]!;
  if (Math.max(Dk, Dv) > WEBGPU_MAX_HEAD_DIM) {
    throw AttentionError.shapes(
      'scaledDotProductAttention',
      `the webgpu fused kernel takes head dims up to ${WEBGPU_MAX_HEAD_DIM} (use implementation 'chunked' or 'reference')`,
      { query: query!.shape, value: value!.shape },
    );
  }
  const dm = bucketOf(Dk, Dv);
  const flags = (mask ? 1 : 0) | (bias ? 2 : 0);
  const biasShape = bias ? [...new Array(4 - bias.shape.length).fill(1), ...bias.shape] : [1, 1, 1, 1];
  return {
    B,
    Hq,
    Hkv,
    Tq,
    Tk,
    Dk,
    Dv,
    dm,
    bk: tileOf(backend, dm),
    uniforms: [
      { type: 'int32', data: [B, Hq, Hkv, Tq] },
      { type: 'int32', data: [Tk, Dk, Dv, flags] },
      { type: 'int32', data: [attrs.left, attrs.right, attrs.offset, Hq / Hkv] },
      { type: 'int32', data: mask ? stridesOf(mask.shape) : [0, 0, 0, 0] },
      { type: 'int32', data: bias ? stridesOf(bias.shape) : [0, 0, 0, 0] },
      { type: 'int32', data: biasShape },
      { type: 'float32', data: [attrs.scale] },
    ],
  };
}

/**
 * Runs `fn` with the mask and bias bindings every attention program declares: absent ones are
 * stood in for by a one-element bool tensor (mask) and the query (bias), of the dtypes a real
 * mask and bias have, which the shaders never read (their flags are off), so one pipeline
 * serves calls with and without them.
 */
function withMaskAndBias<T>(backend: WebGPUBackend, inputs: tf.NamedTensorInfoMap, fn: (mask: tf.TensorInfo, bias: tf.TensorInfo) => T): T {
  const { query, mask, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const stand = mask ? null : backend.makeTensorInfo([1], 'bool', new Uint8Array(1));
  try {
    return fn(flat(mask ?? stand!), flat(bias ?? query!));
  } finally {
    if (stand) backend.disposeData(stand.dataId);
  }
}

/** A new [shape] float32 tensor holding packed[offset, offset + size). */
function slice(backend: WebGPUBackend, packed: tf.TensorInfo, offset: number, shape: number[]): tf.TensorInfo {
  const out = backend.makeTensorInfo(shape, 'float32');
  const n = tf.util.sizeFromShape(shape);
  const copy = program('attnkitCopy', COPY_INPUTS, COPY_UNIFORMS, n, copySource);
  backend.runWebGPUProgram(copy, [flat(packed)], 'float32', [{ type: 'int32', data: [n, offset, 0, 0] }], flat(out));
  return out;
}

/** Forward kernel: [output [B, Hq, Tq, Dv], lse [B, Hq, Tq]]. */
export const webgpuForward: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as unknown as WebGPUBackend;
  const s = callOf(backend, inputs, attrs as unknown as FusedAttentionAttrs);
  const { query, key, value } = inputs as Record<string, tf.TensorInfo>;
  const rows = s.B * s.Hq * s.Tq;
  const packed = backend.makeTensorInfo([rows * (s.Dv + 1)], 'float32'); // [output..., lse...]
  try {
    withMaskAndBias(backend, inputs, (mask, bias) => {
      // 64 rows a workgroup share each K/V tile; short queries take 16 (fewer idle invocations)
      const wg = s.Tq > 32 ? FORWARD_WORKGROUP : WORKGROUP;
      const threads = Math.ceil(s.Tq / (wg / SPLIT)) * s.B * s.Hq * wg;
      const fwd = program(`attnkitFwd${s.dm}x${s.bk}x${wg}`, FORWARD_INPUTS, ATTENTION_UNIFORMS, threads, () => forwardSource(s.dm, s.bk, wg), wg);
      backend.runWebGPUProgram(fwd, [flat(query!), flat(key!), flat(value!), mask, bias], 'float32', s.uniforms, flat(packed));
    });
    return [slice(backend, packed, 0, [s.B, s.Hq, s.Tq, s.Dv]), slice(backend, packed, rows * s.Dv, [s.B, s.Hq, s.Tq])];
  } finally {
    backend.disposeData(packed.dataId);
  }
};

/** Backward kernel: [dQuery, dKey, dValue] (+ dBias in the bias's shape when a bias is given). */
export const webgpuBackward: tf.KernelFunc = ({ inputs, backend: b, attrs }) => {
  const backend = b as unknown as WebGPUBackend;
  const s = callOf(backend, inputs, attrs as unknown as FusedAttentionAttrs);
  const { query, key, value, bias, output, lse, dy } = inputs as Record<string, tf.TensorInfo | undefined>;
  const rows = s.B * s.Hq * s.Tq;
  // 1) per row: lse and D = rowsum(dO ⊙ O), packed [lse..., D...]
  const stats = backend.makeTensorInfo([2 * rows], 'float32');
  const packed = backend.makeTensorInfo([s.B * s.Hkv * s.Tk * (s.Dk + s.Dv)], 'float32'); // [dK..., dV...]
  try {
    const statsProgram = program('attnkitStats', STATS_INPUTS, ATTENTION_UNIFORMS, rows, statsSource);
    backend.runWebGPUProgram(statsProgram, [flat(output!), flat(dy!), flat(lse!)], 'float32', s.uniforms, flat(stats));
    return withMaskAndBias(backend, inputs, (mask, biasIn) => {
      const ins = [flat(query!), flat(key!), flat(value!), mask, biasIn, flat(dy!), flat(stats)];
      // 2) dQ, one invocation per query row
      const dq = backend.makeTensorInfo(query!.shape, 'float32');
      const dqProgram = program(`attnkitDq${s.dm}x${s.bk}`, BACKWARD_INPUTS, ATTENTION_UNIFORMS, Math.ceil(s.Tq / WORKGROUP) * s.B * s.Hq * WORKGROUP, () =>
        dqSource(s.dm, s.bk),
      );
      backend.runWebGPUProgram(dqProgram, ins, 'float32', s.uniforms, flat(dq));
      // 3) dK and dV, one invocation per key row over the group's query heads
      const dkvProgram = program(`attnkitDkv${s.dm}x${s.bk}`, BACKWARD_INPUTS, ATTENTION_UNIFORMS, Math.ceil(s.Tk / WORKGROUP) * s.B * s.Hkv * WORKGROUP, () =>
        dkvSource(s.dm, s.bk),
      );
      backend.runWebGPUProgram(dkvProgram, ins, 'float32', s.uniforms, flat(packed));
      const grads = [dq, slice(backend, packed, 0, key!.shape), slice(backend, packed, s.B * s.Hkv * s.Tk * s.Dk, value!.shape)];
      // 4) dBias, one invocation per bias element (recomputes dS; only when a bias is given)
      if (bias) {
        const dbias = backend.makeTensorInfo(bias.shape, 'float32');
        const size = tf.util.sizeFromShape(bias.shape);
        backend.runWebGPUProgram(program('attnkitDbias', BACKWARD_INPUTS, ATTENTION_UNIFORMS, size, dbiasSource), ins, 'float32', s.uniforms, flat(dbias));
        grads.push(dbias);
      }
      return grads;
    });
  } finally {
    backend.disposeData(stats.dataId);
    backend.disposeData(packed.dataId);
  }
};
