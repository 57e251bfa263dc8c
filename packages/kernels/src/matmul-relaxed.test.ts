import { matmulSuite } from './matmul.suite.js';

// Relaxed SIMD (fused multiply-adds): what Chromium and Node >= 22 load; Node 20 after a V8 flag.
matmulSuite('relaxed');
