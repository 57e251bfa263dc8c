import {
  ATTENTION_CASES,
  type AttentionCase,
  attentionOracle,
  attentionOracleGrad,
  buildCase,
  describeEachBackend,
  expectTensorsClose,
  randomCase,
} from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { type AttentionOptions, attentionWithWeights, scaledDotProductAttention } from './index.js';

// float32 against float64: forward within 1e-4 relative, gradients within 1e-3 relative.
const FORWARD = { rtol: 1e-4, atol: 1e-5 };
const GRAD = { rtol: 1e-3, atol: 1e-4 };

function optionsOf(c: AttentionCase, built: ReturnType<typeof buildCase>): AttentionOptions {
  return {
    mask: built.mask,
    bias: built.bias,
    causal: c.causal ?? false,
    window: c.window ?? null,
    ...(c.scale !== undefined ? { scale: c.scale } : {}),
  };
}

function checkForward(c: AttentionCase, implementation: AttentionOptions['implementation']) {
  const built = buildCase(c);
  const { output, weights } = attentionWithWeights(built.query, built.key, built.value, {
    ...optionsOf(c, built),
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
  const dOut = tf.tensor(Float32Array.from(built.dOutput.data), built.dOutput.shape, 'float32');
  const inputs = [built.query, built.key, built.value, ...(built.bias ? [built.bias] : [])];
  const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) =>
    tf.sum(
      tf.mul(
        scaledDotProductAttention(q, k, v, { ...optionsOf(c, built), bias: b ?? null, implementation }),
        dOut,
      ),
    ),
  )(inputs);
  const expected = attentionOracleGrad(built.oracle, built.dOutput);
  expectTensorsClose(grads[0]!, expected.dQuery.data, { ...GRAD, label: `${c.name} dQuery` });
  expectTensorsClose(grads[1]!, expected.dKey.data, { ...GRAD, label: `${c.name} dKey` });
  expectTensorsClose(grads[2]!, expected.dValue.data, { ...GRAD, label: `${c.name} dValue` });
  if (built.bias) expectTensorsClose(grads[3]!, expected.dBias!.data, { ...GRAD, label: `${c.name} dBias` });
  tf.dispose([...grads, dOut]);
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
