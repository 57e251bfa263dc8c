import { fusedAttentionSuite } from './fused.suite.js';

fusedAttentionSuite('simd');
