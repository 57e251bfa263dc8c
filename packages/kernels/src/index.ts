export { registerFusedAttention, registerWebGPUAttention, unregisterFusedAttention } from './register.js';
export type { RegisterOptions } from './register.js';
export { WEBGPU_MAX_HEAD_DIM } from './webgpu.js';
