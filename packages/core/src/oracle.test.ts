import {
  ATTENTION_CASES,
  type AttentionCase,
  attentionOracle,
  attentionOracleGrad,
  TOLERANCES,
  buildCase,
  caseOptions,
  describeEachBackend,
  expectTensorsClose,
  outputAndGrads,
  randomCase,
} from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { type AttentionOptions, attentionWithWeights, scaledDotProductAttention } from './index.js';

// float32 against float64: forward within 1e-4 relative, gradients within 1e-3 relative.
const { oracleForward: FORWARD, oracleGrad: GRAD } = TOLERANCES;

function checkForward(c: AttentionCase, implementation: AttentionOptions['implementation']) {
  const built = buildCase(c);
  const { output, weights } = attentionWithWeights(built.query, built.key, built.value, {
    ...caseOptions(c, built),
    implementation,
  });
  const expected = attentionOracle(built.oracle);
  expectTensorsClose(output, expected.output.data, { ...FORWARD, label: `${c.name} output` });
  expectTensorsClose(weights, expected.weights.data, { ...FORWARD, label: `${c.name} weights` });
  expect(output.shape).toEqual(expected.output.shape);
  tf.dispose([output, weights]);
  built.dispose();
}

function checkGradients(c: AttentionCase, implementation: AttentionOptions['implementation']) {
  const built = buildCase(c);
  const { output, grads } = outputAndGrads(built, (q, k, v, bias) => scaledDotProductAttention(q, k, v, { ...caseOptions(c, built), bias, implementation }));
  const expected = attentionOracleGrad(built.oracle, built.dOutput);
  expectTensorsClose(grads[0]!, expected.dQuery.data, { ...GRAD, label: `${c.name} dQuery` });
  expectTensorsClose(grads[1]!, expected.dKey.data, { ...GRAD, label: `${c.name} dKey` });
  expectTensorsClose(grads[2]!, expected.dValue.data, { ...GRAD, label: `${c.name} dValue` });
  if (built.bias) expectTensorsClose(grads[3]!, expected.dBias!.data, { ...GRAD, label: `${c.name} dBias` });
  tf.dispose([output, ...grads]);
  built.dispose();
}

describeEachBackend('scaledDotProductAttention vs the float64 oracle', () => {
  for (const implementation of ['reference', 'sliced'] as const) {
    it.each(ATTENTION_CASES.map((c) => [c.name, c] as const))(`${implementation}: %s`, (_, c) => {
      checkForward(c, implementation);
      checkGradients(c, implementation);
    });
  }

  it('the default path agrees with the oracle on 40 random configurations', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const c = randomCase(seed);
      checkForward(c, 'auto');
      checkGradients(c, 'auto');
    }
  });
});
