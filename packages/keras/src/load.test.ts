// Golden values: the fixtures and their float64 outputs come from fixtures/make_fixtures.py
// (h5py + numpy, Keras 3's file layout); no test needs Python.
import { readFileSync } from 'node:fs';
import { CrossAttention } from '@attnkit/cross-attention';
import { MultiHeadAttention } from '@attnkit/multi-head';
import { PositionEmbedding } from '@attnkit/positional';
import { describeEachBackend, expectTensorsClose, useBackend } from '@attnkit/test-utils';
import { TransformerDecoderLayer, TransformerEncoderLayer } from '@attnkit/transformer';
import * as tf from '@tensorflow/tfjs';
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { AttentionError, loadKerasModel, loadKerasWeights, modelFromKerasJson, readKerasArchive } from './index.js';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const bytes = (name: string) => new Uint8Array(readFileSync(fixture(name)));

interface TensorJson {
  shape: number[];
  data: number[];
}
interface Expected {
  inputs: TensorJson[];
  inputDtypes?: Array<'float32' | 'int32'>;
  outputs: TensorJson[];
  weights?: Record<string, [number, number]>;
}
const EXPECTED = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, Expected>;

const inputsOf = (e: Expected) => e.inputs.map((t, i) => tf.tensor(t.data, t.shape, e.inputDtypes?.[i] ?? 'float32'));

/** Runs the model on the fixture's inputs and compares with its float64 outputs. */
function expectOutputs(model: tf.LayersModel, e: Expected) {
  const inputs = inputsOf(e);
  const y = model.predict(inputs.length === 1 ? inputs[0]! : inputs) as tf.Tensor;
  expect(y.shape).toEqual(e.outputs[0]!.shape);
  expectTensorsClose(y, e.outputs[0]!.data, { atol: 1e-5, rtol: 1e-5 });
  tf.dispose([...inputs, y]);
}

/** [sum, position-weighted sum] in float64, as make_fixtures.py computes them. */
function checksum(values: ArrayLike<number>): [number, number] {
  let sum = 0;
  let weighted = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    weighted += values[i]! * ((i % 7) + 1);
  }
  return [sum, weighted];
}

/**
 * Every weight of the file landed in a model variable, value for value: the checksums of the
 * model's weights are those of the file's datasets, one for one.
 */
function expectEveryWeightLanded(model: tf.LayersModel, e: Expected) {
  const want = Object.values(e.weights!).sort((a, b) => a[0] - b[0]);
  const got = model.weights.map((w) => checksum(w.read().dataSync())).sort((a, b) => a[0] - b[0]);
  expect(got.length).toBe(want.length);
  for (const [i, [s, ws]] of got.entries()) {
    expect(s).toBeCloseTo(want[i]![0], 4);
    expect(ws).toBeCloseTo(want[i]![1], 4);
  }
}

/** Like test-utils' expectThrowsWithoutLeak, for async calls. */
async function expectRejectsWithoutLeak(fn: () => Promise<unknown>, message: RegExp | string): Promise<Error> {
  const before = tf.memory().numTensors;
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected the call to throw').toBeInstanceOf(AttentionError);
  const err = caught as Error;
  if (typeof message === 'string') expect(err.message).toContain(message);
  else expect(err.message).toMatch(message);
  expect(tf.memory().numTensors - before, 'tensors leaked by the failed call').toBe(0);
  return err;
}

/** The model of mha.weights.h5, built in code: MultiHeadAttention(4 heads, key_dim 8) then Dense(16). */
function mhaModel(numHeads = 4) {
  const q = tf.input({ shape: [4, 16], name: 'q' });
  const v = tf.input({ shape: [6, 16], name: 'v' });
  const mha = new MultiHeadAttention({ numHeads, keyDim: 8, name: 'mha' });
  const y = tf.layers.dense({ units: 16, name: 'head' }).apply(mha.apply([q, v]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  return tf.model({ inputs: [q, v], outputs: y });
}

/** A .keras archive with its config.json changed by `edit`. */
function editedArchive(name: string, edit: (config: Record<string, unknown>) => void): Uint8Array {
  const files = unzipSync(bytes(name));
  const config = JSON.parse(strFromU8(files['config.json']!));
  edit(config);
  return zipSync({ ...files, 'config.json': strToU8(JSON.stringify(config)) });
}

describeEachBackend('loadKerasModel: .keras archives against float64 numpy', () => {
  it('a functional block of Keras layers: MultiHeadAttention (causal; value by position and by keyword), Add, LayerNormalization, Dense, Dropout', async () => {
    const model = await loadKerasModel(fixture('functional.keras'));
    // tfjs orders layers by depth ('m' comes late); weights still go by Keras' order (config.json's)
    expect(model.layers.map((l) => l.name).sort()).toEqual(['add', 'add_1', 'cross_mha', 'drop', 'ffn_in', 'ffn_out', 'head', 'm', 'norm', 'self_mha', 'x']);
    const self = model.getLayer('self_mha');
    expect(self).toBeInstanceOf(MultiHeadAttention);
    expect((self as MultiHeadAttention).useCausalMask).toBe(true);
    expect((model.getLayer('cross_mha') as MultiHeadAttention).useCausalMask).toBe(false);
    expectOutputs(model, EXPECTED['functional.keras']!);
    expectEveryWeightLanded(model, EXPECTED['functional.keras']!);
    model.dispose();
  });

  it('a Sequential model: Embedding, LayerNormalization, Dense (from bytes, not a path)', async () => {
    const model = await loadKerasModel(bytes('sequential.keras').buffer as ArrayBuffer);
    expect(model).toBeInstanceOf(tf.Sequential);
    expectOutputs(model, EXPECTED['sequential.keras']!);
    expectEveryWeightLanded(model, EXPECTED['sequential.keras']!);
    model.dispose();
  });

  it("attnkit's layers: sinusoidal and learned positions, encoder (post-norm), decoder (pre-norm, memory by position), cross-attention (memory by keyword)", async () => {
    const model = await loadKerasModel(bytes('attnkit.keras'));
    expect(model.getLayer('enc')).toBeInstanceOf(TransformerEncoderLayer);
    expect(model.getLayer('dec')).toBeInstanceOf(TransformerDecoderLayer);
    expect(model.getLayer('xattn')).toBeInstanceOf(CrossAttention);
    expect(model.getLayer('pos')).toBeInstanceOf(PositionEmbedding);
    expectOutputs(model, EXPECTED['attnkit.keras']!);
    expectEveryWeightLanded(model, EXPECTED['attnkit.keras']!);
    model.dispose();
  });
});

describeEachBackend('loadKerasWeights: a bare .weights.h5 into a model built in code', () => {
  it('fills every weight; same outputs as numpy', async () => {
    const model = mhaModel();
    const returned = await loadKerasWeights(model, bytes('mha.weights.h5'));
    expect(returned).toBe(model);
    expectOutputs(model, EXPECTED['mha.weights.h5']!);
    expectEveryWeightLanded(model, EXPECTED['mha.weights.h5']!);
    model.dispose();
  });

  it("takes a .keras archive's weights too", async () => {
    // a Keras 3 config.json builds too (weights as initialized), then the archive's weights go in
    const fresh = modelFromKerasJson(readKerasArchive(bytes('functional.keras')).config);
    await loadKerasWeights(fresh, fixture('functional.keras'));
    expectOutputs(fresh, EXPECTED['functional.keras']!);
    fresh.dispose();
  });
});

describeEachBackend('modelFromKerasJson: Keras 2 model.json topologies with keyword inputs', () => {
  const json = () => JSON.parse(readFileSync(fixture('keras2-model.json'), 'utf8'));

  it('value / key / use_causal_mask as keywords become inputs and a constructor argument; weights from the .bin; same outputs as numpy', () => {
    const model = modelFromKerasJson(json(), { weightData: bytes('keras2.weights.bin') });
    const self = model.getLayer('self_mha') as MultiHeadAttention;
    expect(self).toBeInstanceOf(MultiHeadAttention);
    expect(self.useCausalMask).toBe(true);
    expect(self.inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual(['x', 'x', 'x']);
    expect((model.getLayer('cross_mha') as MultiHeadAttention).inboundNodes[0]!.inboundLayers.map((l) => l.name)).toEqual(['self_mha', 'm']);
    expectOutputs(model, EXPECTED['keras2-model.json']!);
    model.dispose();
  });

  it("tfjs' own loader throws on the same topology (the reason for the rewrite); the JSON text, its modelTopology or the model config all load", async () => {
    const text = readFileSync(fixture('keras2-model.json'), 'utf8');
    await expect(tf.models.modelFromJSON(json())).rejects.toThrow();
    for (const given of [text, json().modelTopology, json().modelTopology.model_config]) {
      const model = modelFromKerasJson(given);
      expect(model.outputs[0]!.shape).toEqual([null, 5, 4]);
      model.dispose();
    }
  });

  it('attention_mask as a keyword tensor: a clear error, nothing allocated', async () => {
    const j = json();
    const node = j.modelTopology.model_config.config.layers[3].inbound_nodes[0][0];
    node[3] = { value: ['m', 0, 0], attention_mask: ['x', 0, 0] };
    await expectRejectsWithoutLeak(
      async () => modelFromKerasJson(j),
      "modelFromKerasJson: config.json: layer 'cross_mha' call 0 passes attention_mask as a graph tensor",
    );
  });
});

describe('errors name the op, the entry and the shapes, and leak nothing [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('a weights file for another number of heads', async () => {
    const model = mhaModel();
    await expectRejectsWithoutLeak(
      () => loadKerasWeights(model, bytes('mha-2-heads.weights.h5')),
      "loadKerasWeights: layers/multi_head_attention/query_dense/vars/0 has shape [16,2,8] but MultiHeadAttention 'mha' query/kernel needs [16,4,8]",
    );
    model.dispose();
  });

  it('a missing weight', async () => {
    const model = mhaModel();
    await expectRejectsWithoutLeak(
      () => loadKerasWeights(model, bytes('mha-missing-bias.weights.h5')),
      "loadKerasWeights: the weights file has no layers/multi_head_attention/output_dense/vars/1: MultiHeadAttention 'mha' attention_output/bias needs [16]",
    );
    model.dispose();
  });

  it('weights no layer takes', async () => {
    const q = tf.input({ shape: [4, 16] });
    const v = tf.input({ shape: [6, 16] });
    const model = tf.model({ inputs: [q, v], outputs: new MultiHeadAttention({ numHeads: 4, keyDim: 8, name: 'mha' }).apply([q, v]) as tf.SymbolicTensor });
    await expectRejectsWithoutLeak(
      () => loadKerasWeights(model, bytes('mha.weights.h5')),
      'has weights that no layer of the model takes: layers/dense/vars/0, layers/dense/vars/1',
    );
    model.dispose();
  });

  it('a mismatched .keras: the model is disposed again', async () => {
    const archive = editedArchive('functional.keras', (config) => {
      const layers = (config.config as { layers: Array<{ name: string; config: Record<string, unknown> }> }).layers;
      layers.find((l) => l.name === 'self_mha')!.config.num_heads = 2;
    });
    await expectRejectsWithoutLeak(
      () => loadKerasModel(archive),
      "loadKerasModel: layers/multi_head_attention/query_dense/vars/0 has shape [16,4,4] but MultiHeadAttention 'self_mha' query/kernel needs [16,2,4]",
    );
  });

  it('an unknown class', async () => {
    const archive = editedArchive('functional.keras', (config) => {
      const layer = (config.config as { layers: Array<Record<string, unknown>> }).layers[5]!;
      Object.assign(layer, { class_name: 'FancyDense', module: 'my_project.layers', registered_name: 'my_project>FancyDense' });
    });
    await expectRejectsWithoutLeak(
      () => loadKerasModel(archive),
      "loadKerasModel: config.json: layer 'ffn_in' has class FancyDense (module 'my_project.layers', registered_name 'my_project>FancyDense'), which has no TensorFlow.js class",
    );
  });

  it('a corrupted or foreign file', async () => {
    const good = bytes('functional.keras');
    await expectRejectsWithoutLeak(() => loadKerasModel(good.slice(0, good.length - 200)), 'loadKerasModel: the .keras archive is corrupted');
    await expectRejectsWithoutLeak(() => loadKerasModel(bytes('mha.weights.h5')), 'loadKerasModel: not a .keras archive');
    const model = mhaModel();
    await expectRejectsWithoutLeak(() => loadKerasWeights(model, bytes('keras2.weights.bin')), 'loadKerasWeights: the weights file is not an HDF5 file');
    const h5 = bytes('mha.weights.h5');
    await expectRejectsWithoutLeak(() => loadKerasWeights(model, h5.slice(0, 4096)), 'loadKerasWeights: the weights file could not be opened as HDF5');
    model.dispose();
    await expectRejectsWithoutLeak(() => loadKerasModel(fixture('no-such.keras')), "loadKerasModel: cannot read '");
  });

  it('Keras 3 options tfjs cannot honour, mixed precision and causal masks of unequal lengths are refused', async () => {
    const edit = (f: (layers: Array<{ name: string; config: Record<string, unknown> }>) => void) =>
      editedArchive('functional.keras', (config) => f((config.config as { layers: Array<{ name: string; config: Record<string, unknown> }> }).layers));
    await expectRejectsWithoutLeak(
      () => loadKerasModel(edit((l) => Object.assign(l.find((x) => x.name === 'norm')!.config, { rms_scaling: true }))),
      "loadKerasModel: config.json: layer 'norm' (LayerNormalization) has rms_scaling=true, which TensorFlow.js cannot honour",
    );
    await expectRejectsWithoutLeak(
      () =>
        loadKerasModel(
          edit((l) => Object.assign(l.find((x) => x.name === 'head')!.config, { dtype: { class_name: 'DTypePolicy', config: { name: 'mixed_float16' } } })),
        ),
      "layer 'head' (Dense) has dtype policy mixed_float16",
    );
    const causalCross = editedArchive('functional.keras', (config) => {
      const layer = (config.config as { layers: Array<{ name: string; inbound_nodes: Array<{ kwargs: Record<string, unknown> }> }> }).layers.find(
        (x) => x.name === 'cross_mha',
      )!;
      layer.inbound_nodes[0]!.kwargs.use_causal_mask = true;
    });
    await expectRejectsWithoutLeak(() => loadKerasModel(causalCross), "MultiHeadAttention 'cross_mha' uses a causal mask with query length 5 and key length 7");
  });
});

describe('memory [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('loading, predicting and disposing leaves no tensor behind', async () => {
    for (const name of ['functional.keras', 'sequential.keras', 'attnkit.keras']) {
      const before = tf.memory().numTensors;
      const model = await loadKerasModel(fixture(name));
      const inputs = inputsOf(EXPECTED[name]!);
      tf.dispose(model.predict(inputs.length === 1 ? inputs[0]! : inputs));
      tf.dispose(inputs);
      model.dispose();
      expect(tf.memory().numTensors - before, name).toBe(0);
    }
  });

  it('readKerasArchive reads the entries', () => {
    const archive = readKerasArchive(bytes('functional.keras'));
    expect(archive.metadata.keras_version).toBe('3.10.0');
    expect((archive.config as { class_name: string }).class_name).toBe('Functional');
    expect(archive.weights!.length).toBeGreaterThan(1000);
  });
});

describe('class mapping [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it("a same-named class of another library is not taken for attnkit's", async () => {
    const archive = editedArchive('attnkit.keras', (config) => {
      const layer = (config.config as { layers: Array<Record<string, unknown>> }).layers.find((l) => l.name === 'pos')!;
      Object.assign(layer, { module: 'keras_hub.src.layers.modeling.position_embedding', registered_name: 'keras_hub>PositionEmbedding' });
    });
    await expectRejectsWithoutLeak(
      () => loadKerasModel(archive),
      "layer 'pos' has class PositionEmbedding (module 'keras_hub.src.layers.modeling.position_embedding'",
    );
  });
});
