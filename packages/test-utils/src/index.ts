export { TEST_BACKENDS, describeEachBackend, useBackend } from './backends.js';
export type { TestBackend } from './backends.js';
export { expectTensorsClose, maxViolation } from './close.js';
export type { CloseOptions, Numeric } from './close.js';
export { expectNoLeak, expectThrowsWithoutLeak } from './leaks.js';
export { peakMemory } from './memory.js';
export type { PeakMemory } from './memory.js';
export { attentionOracle, attentionOracleGrad, f64, toF64 } from './oracle.js';
export type { F64, OracleGrads, OracleInput } from './oracle.js';
export { randomInt, randomMask, randomTensor, randomValues, seededRandom } from './random.js';
export {
  ATTENTION_CASES,
  GRAD_NAMES,
  TOLERANCES,
  buildCase,
  caseOptions,
  expectSameAsReference,
  outputAndGrads,
  randomCase,
} from './cases.js';
export type { AttentionCase, BuiltCase, OutputAndGrads } from './cases.js';
