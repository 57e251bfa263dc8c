import { registerFusedAttention, registerTrainingKernels } from '@attnkit/kernels';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await registerFusedAttention(); await registerTrainingKernels();
const { AttnkitDecoder } = await import('./src/model/attnkit.js');
const d = new AttnkitDecoder('tiny', 1, 20, 32); d.run(); d.run();
const p = await tf.profile(() => { d.run(); });
const by = new Map<string, { n: number; ms: number }>();
for (const k of p.kernels) { const e = by.get(k.name) ?? { n: 0, ms: 0 }; e.n++; e.ms += k.kernelTimeMs as number; by.set(k.name, e); }
console.log('kernels per run', p.kernels.length, 'per step', (p.kernels.length / 33).toFixed(0));
for (const [k, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) console.log(k.padEnd(28), String(e.n).padStart(5), e.ms.toFixed(1));
const t0 = performance.now(); for (let i = 0; i < 5; i++) d.run(); console.log('ms/step', ((performance.now() - t0) / 5 / 33).toFixed(2));
