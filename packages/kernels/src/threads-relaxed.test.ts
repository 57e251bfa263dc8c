import { threadsSuite } from './fused.suite.js';

threadsSuite('relaxed');
