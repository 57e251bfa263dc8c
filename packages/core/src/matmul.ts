import * as tf from '@tensorflow/tfjs-core';
import { saveViews } from './save.js';

/**
 * a [M, K] · b [K, N] as a plain rank-2 matMul with no transpose flags, and a gradient that
 * keeps it so: da = dy · bᵀ and db = aᵀ · dy with the transposes done explicitly. On the wasm
 * backend this form runs through XNNPACK and is about 10x faster than a batched or
 * transposed matMul (tfjs' own matMul gradient uses transpose flags). Same numbers as
 * `tf.matMul(a, b)`; use `tf.transpose` on an argument for a transposed product.
 */
export const matMul2d = tf.customGrad((a, b, save) => {
  const [x, y] = [a as tf.Tensor2D, b as tf.Tensor2D];
  saveViews(save as tf.GradSaveFunc, [x, y]);
  return {
    value: tf.matMul(x, y),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sy] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [matMulT(dy as tf.Tensor2D, sy, false, true), matMulT(sx, dy as tf.Tensor2D, true, false)];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * A BatchMatMul kernel registration that says transposed operands cost it nothing (as
 * @attnkit/kernels' wasm matrix product does); tfjs-wasm's own is ~10x slower with them.
 */
export interface MatMulKernelConfig extends tf.KernelConfig {
  transposesFree?: boolean;
  /** On a _FusedMatMul registration: it takes any bias of size N, whatever shape its buffer was made with. */
  anyBias?: boolean;
}

/**
 * op(a)·op(b) through the transpose flags where the backend's BatchMatMul takes them for free,
 * through explicit transposes and a plain product (matMul2d, differentiable) otherwise.
 */
export function matMulT(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  const kernel = tf.getKernel('BatchMatMul', tf.getBackend()) as MatMulKernelConfig | undefined;
  if (kernel?.transposesFree) return tf.matMul(a, b, transposeA, transposeB);
  return matMul2d(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b);
}
