export { registerFusedAttention, registerWebGPUAttention, unregisterFusedAttention, wasmKernelInfo } from './register.js';
export type { RegisterOptions, WasmKernelInfo } from './register.js';
export { WEBGPU_MAX_HEAD_DIM } from './webgpu.js';
export { registerTrainingKernels, unregisterTrainingKernels } from './training.js';
