import { expectTensorsClose, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CrossAttention } from './index.js';

async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = JSON.parse(JSON.stringify({ ...artifacts, weightData: undefined })); // what a file holds
      saved!.weightData = artifacts.weightData;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

describe('CrossAttention inside tf.model [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('weights exist after symbolic apply, with stable names; fit changes every weight; save -> load gives the same outputs', async () => {
    const warn = vi.spyOn(console, 'warn');
    const q = tf.input({ shape: [3, 8] });
    const m = tf.input({ shape: [5, 6] });
    const mask = tf.input({ shape: [5] });
    const xattn = new CrossAttention({ numHeads: 2, keyDim: 4, name: 'xattn', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) });
    const y = xattn.apply([q, m, mask]) as tf.SymbolicTensor;
    expect(y.shape).toEqual([null, 3, 8]);
    expect(xattn.weights.map((w) => w.originalName)).toEqual([
      'xattn/query/kernel',
      'xattn/query/bias',
      'xattn/key/kernel',
      'xattn/key/bias',
      'xattn/value/kernel',
      'xattn/value/bias',
      'xattn/attention_output/kernel',
      'xattn/attention_output/bias',
    ]);
    const model = tf.model({ inputs: [q, m, mask], outputs: y });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
    const xq = randomTensor([4, 3, 8], 2);
    const xm = randomTensor([4, 5, 6], 3);
    const xmask = tf.tensor2d(
      [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
        [1, 0, 0, 0, 0],
        [1, 1, 1, 1, 0],
      ],
      [4, 5],
    );
    const target = randomTensor([4, 3, 8], 4);
    const before = model.getWeights().map((w) => w.clone());
    await model.fit([xq, xm, xmask], target, { epochs: 2, batchSize: 4, verbose: 0 });
    const after = model.getWeights();
    expect(after.length).toBe(8);
    for (const [i, w] of after.entries()) {
      const change = tf.tidy(() => tf.max(tf.abs(tf.sub(w, before[i]!))).dataSync()[0]!);
      expect(change, xattn.weights[i]!.originalName).toBeGreaterThan(0);
    }
    expect(warn.mock.calls.flat().join(' ')).not.toContain('Discrepancy');
    warn.mockRestore();

    const predicted = model.predict([xq, xm, xmask]) as tf.Tensor;
    const eager = xattn.apply(xq, { memory: xm, memoryMask: xmask }) as tf.Tensor;
    expectTensorsClose(predicted, eager, { rtol: 1e-6, atol: 1e-6 });
    const loaded = await saveAndLoad(model);
    expect(loaded.getLayer('xattn')).toBeInstanceOf(CrossAttention);
    const reloaded = loaded.predict([xq, xm, xmask]) as tf.Tensor;
    expectTensorsClose(reloaded, predicted, { rtol: 1e-6, atol: 1e-6 });
    tf.dispose([xq, xm, xmask, target, predicted, eager, reloaded, ...before]);
    model.dispose();
    loaded.dispose();
  });

  it('build(shapes) outside apply and eager first calls give the same weight names', () => {
    const a = new CrossAttention({ numHeads: 2, keyDim: 2, name: 'built_directly' });
    a.build([
      [null, null, 4],
      [null, null, 6],
    ]);
    const b = new CrossAttention({ numHeads: 2, keyDim: 2, name: 'built_by_call' });
    const query = randomTensor([1, 2, 4], 5);
    const memory = randomTensor([1, 3, 6], 6);
    tf.dispose(b.apply(query, { memory }) as tf.Tensor);
    const c = new CrossAttention({ numHeads: 2, keyDim: 2, name: 'built_in_constructor', queryShape: [null, null, 4], memoryShape: [null, null, 6] });
    const names = (l: CrossAttention) => l.weights.map((w) => w.originalName.split('/').slice(1).join('/'));
    expect(a.weights[0]!.originalName).toBe('built_directly/query/kernel');
    expect(b.weights[0]!.originalName).toBe('built_by_call/query/kernel');
    expect(c.weights[0]!.originalName).toBe('built_in_constructor/query/kernel');
    expect(names(a)).toEqual(names(b));
    expect(names(c)).toEqual(names(b));
    expect(c.weights[2]!.shape).toEqual([6, 2, 2]);
    tf.dispose([query, memory]);
    for (const l of [a, b, c]) l.dispose();
  });
});
