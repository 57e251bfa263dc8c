import { PROJECTED_CROSS_ENTROPY_GRAD_KERNEL, PROJECTED_CROSS_ENTROPY_KERNEL } from '@attnkit/core';
import { registerTrainingKernels, unregisterTrainingKernels } from '@attnkit/kernels';
import { expectTensorsClose, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Transformer } from './index.js';

/** The loss and every variable's gradient of one batch (dropout off, so both runs see the same function). */
function lossAndGrads(tieOutput: boolean) {
  const model = new Transformer({
    sourceVocabSize: 23,
    targetVocabSize: 23,
    dModel: 16,
    numHeads: 2,
    ffDim: 32,
    numEncoderLayers: 1,
    numDecoderLayers: 2,
    dropout: 0,
    normFirst: true,
    shareEmbeddings: tieOutput,
    tieOutput,
    seed: 5,
  }).build();
  const ids = (salt: number) =>
    tf.tensor2d(
      Array.from({ length: 3 * 7 }, (_, i) => 3 + ((i * 5 + salt) % 20)),
      [3, 7],
      'int32',
    );
  const [src, tin, tout] = [ids(1), ids(2), ids(3)];
  const variables = model.variables();
  const { value, grads } = tf.variableGrads(() => model.loss(src, tin, tout, { labelSmoothing: 0.1 }), variables);
  const out = { loss: value, grads: variables.map((v) => grads[v.name]!) };
  tf.dispose([src, tin, tout]);
  model.dispose();
  return out;
}

describe('Transformer.loss with the training kernels on wasm', () => {
  beforeAll(() => useBackend('wasm'));
  afterAll(() => unregisterTrainingKernels());

  it('equals the loss without them, value and every gradient, tied and untied output; tied, the projection and cross-entropy are one kernel each way', async () => {
    const reference = [lossAndGrads(true), lossAndGrads(false)];
    await registerTrainingKernels();
    let fused!: ReturnType<typeof lossAndGrads>[];
    const profile = await tf.profile(() => {
      fused = [lossAndGrads(true)];
    });
    fused.push(lossAndGrads(false));
    for (const [i, label] of ['tied', 'untied'].entries()) {
      expectTensorsClose(fused[i]!.loss, reference[i]!.loss, { rtol: 1e-5, atol: 1e-6, label: `${label} loss` });
      expect(fused[i]!.grads.length).toBe(reference[i]!.grads.length);
      for (const [j, g] of fused[i]!.grads.entries())
        expectTensorsClose(g, reference[i]!.grads[j]!, { rtol: 1e-4, atol: 1e-5, label: `${label} gradient ${j}` });
    }
    const names = profile.kernels.map((k) => k.name);
    expect(names).toContain(PROJECTED_CROSS_ENTROPY_KERNEL);
    expect(names).toContain(PROJECTED_CROSS_ENTROPY_GRAD_KERNEL);
    tf.dispose([...reference, ...fused].flatMap((r) => [r.loss, ...r.grads]));
  });
});
