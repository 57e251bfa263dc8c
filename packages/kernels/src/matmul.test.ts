import { matmulSuite } from './matmul.suite.js';

matmulSuite('simd');
