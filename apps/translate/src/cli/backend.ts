/**
 * The tfjs backend of the command-line tools (wasm unless asked otherwise), with
 * @attnkit/kernels' fused attention and training kernels registered, as an app using attnkit would: core's
 * default `'auto'` path then runs attention in the fused kernel on wasm (and webgpu), and the
 * paths it does not fuse (attention weights for the heatmaps, dropout while training) run as
 * before.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerFusedAttention, registerTrainingKernels, wasmKernelInfo } from '@attnkit/kernels';

/**
 * Starts `name` and registers the fused kernels in their relaxed-SIMD build (fused multiply-adds
 * in the matrix products and attention; on Node 20 the kernels turn on V8's relaxed-SIMD flag);
 * returns a one-line description for logs.
 */
export async function startBackend(name = 'wasm'): Promise<string> {
  if (!(await tf.setBackend(name))) throw new Error(`translate: the tfjs backend '${name}' failed to start`);
  await registerFusedAttention({ build: 'relaxed' });
  await registerTrainingKernels({ build: 'relaxed' });
  const kernel = wasmKernelInfo();
  return name === 'wasm' && kernel ? `wasm, fused attention kernel (${kernel.build} build, ${kernel.threads} threads)` : name;
}
