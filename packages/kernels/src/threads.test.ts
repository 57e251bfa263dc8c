import { threadsSuite } from './fused.suite.js';

threadsSuite('simd');
