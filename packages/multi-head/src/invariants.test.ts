import { describeEachBackend, expectTensorsClose, randomTensor, toF64 } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { MultiHeadAttention } from './index.js';
import { type F64Weights, input, mhaOracle, seedWeights } from './testing/mha-oracle.js';

const SAME = { rtol: 1e-6, atol: 1e-6 };

/** In-memory tf.io round trip of a LayersModel. */
async function saveAndLoad(model: tf.LayersModel): Promise<tf.LayersModel> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(saved!));
}

describeEachBackend('MultiHeadAttention invariants', () => {
  it('numKeyValueHeads = numHeads is plain multi-head attention', () => {
    const x = randomTensor([2, 6, 8], 1);
    const plain = new MultiHeadAttention({ numHeads: 4, keyDim: 3, queryShape: x.shape, valueShape: x.shape });
    const gqa = new MultiHeadAttention({ numHeads: 4, keyDim: 3, numKeyValueHeads: 4, queryShape: x.shape, valueShape: x.shape });
    seedWeights(plain, 2);
    gqa.setWeights(plain.getWeights());
    const a = plain.call(x, { value: x, useCausalMask: true }) as tf.Tensor;
    const b = gqa.call(x, { value: x, useCausalMask: true }) as tf.Tensor;
    expectTensorsClose(b, a, SAME);
    tf.dispose([x, a, b]);
    plain.dispose();
    gqa.dispose();
  });

  it('GQA equals plain MHA whose key/value kernels repeat each kv head for its query group', () => {
    const x = randomTensor([2, 5, 8], 3);
    const gqa = new MultiHeadAttention({ numHeads: 6, keyDim: 4, numKeyValueHeads: 2, queryShape: x.shape, valueShape: x.shape });
    const plain = new MultiHeadAttention({ numHeads: 6, keyDim: 4, queryShape: x.shape, valueShape: x.shape });
    seedWeights(gqa, 4);
    const repeat = (w: tf.Tensor, axis: number) => tf.gather(w, tf.tensor1d([0, 0, 0, 1, 1, 1], 'int32'), axis); // kv head h / 3
    const w = gqa.getWeights(); // q k, q b, k k, k b, v k, v b, o k, o b
    const expanded = tf.tidy(() => [w[0]!, w[1]!, repeat(w[2]!, 1), repeat(w[3]!, 0), repeat(w[4]!, 1), repeat(w[5]!, 0), w[6]!, w[7]!]);
    plain.setWeights(expanded);
    const a = gqa.call(x, { value: x }) as tf.Tensor;
    const b = plain.call(x, { value: x }) as tf.Tensor;
    expectTensorsClose(a, b, { rtol: 1e-5, atol: 1e-6 });
    tf.dispose([x, a, b, ...expanded.slice(2, 6)]);
    gqa.dispose();
    plain.dispose();
  });

  it('inside tf.model with query and value as two inputs; save -> load (tf.io) gives the same outputs', async () => {
    const q = tf.input({ shape: [5, 8], name: 'query_in' });
    const v = tf.input({ shape: [7, 6], name: 'value_in' });
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, numKeyValueHeads: 1, outputShape: 3, name: 'mha', useCausalMask: true });
    const y = layer.apply([q, v], { useCausalMask: true }) as tf.SymbolicTensor; // agrees with the constructor
    expect(y.shape).toEqual([null, 5, 3]);
    const model = tf.model({ inputs: [q, v], outputs: y });
    seedWeights(layer, 5);
    const xq = randomTensor([2, 5, 8], 6);
    const xv = randomTensor([2, 7, 6], 7);
    const before = model.predict([xq, xv]) as tf.Tensor;
    const eager = layer.call(xq, { value: xv, useCausalMask: true }) as tf.Tensor;
    expectTensorsClose(before, eager, SAME);

    const loaded = await saveAndLoad(model);
    const restored = loaded.getLayer('mha');
    expect(restored).toBeInstanceOf(MultiHeadAttention);
    const json = (c: object) => JSON.parse(JSON.stringify(c)); // what a saved model holds
    expect(json(restored.getConfig())).toEqual(json(layer.getConfig()));
    expect(restored.weights.map((w) => w.originalName)).toEqual(layer.weights.map((w) => w.originalName));
    const after = loaded.predict([xq, xv]) as tf.Tensor;
    expectTensorsClose(after, before, SAME);
    tf.dispose([xq, xv, before, eager, after]);
    model.dispose();
    loaded.dispose();
  });

  it('apply(query, {value}) also builds a tf.model; returnAttentionScores adds a second output', () => {
    const q = tf.input({ shape: [4, 6] });
    const v = tf.input({ shape: [3, 6] });
    const layer = new MultiHeadAttention({ numHeads: 3, keyDim: 2, returnAttentionScores: true });
    const outs = layer.apply(q, { value: v }) as tf.SymbolicTensor[];
    expect(outs.map((o) => o.shape)).toEqual([
      [null, 4, 6],
      [null, 3, 4, 3],
    ]);
    const model = tf.model({ inputs: [q, v], outputs: outs });
    const xq = randomTensor([2, 4, 6], 8);
    const xv = randomTensor([2, 3, 6], 9);
    const [y, s] = model.predict([xq, xv]) as tf.Tensor[];
    const [ey, es] = layer.call(xq, { value: xv, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(y!, ey!, SAME);
    expectTensorsClose(s!, es!, SAME);
    tf.dispose([xq, xv, y!, s!, ey!, es!]);
    model.dispose();
  });

  it('getConfig -> fromConfig round-trips every argument and reproduces the outputs', () => {
    const x = randomTensor([2, 4, 6], 10);
    const layer = new MultiHeadAttention({
      numHeads: 4,
      keyDim: 3,
      valueDim: 5,
      numKeyValueHeads: 2,
      dropout: 0.25,
      useBias: false,
      outputShape: [2, 3],
      implementation: 'sliced',
      kernelInitializer: 'heNormal',
      biasInitializer: 'ones',
      kernelRegularizer: tf.regularizers.l2({ l2: 0.003 }),
      kernelConstraint: tf.constraints.maxNorm({ maxValue: 3, axis: 0 }),
      name: 'configured',
      queryShape: x.shape,
      valueShape: x.shape,
    });
    seedWeights(layer, 11);
    expect(layer.losses.length).toBe(4); // the regularizer is attached to the four kernels
    const config = layer.getConfig();
    const copy = MultiHeadAttention.fromConfig(MultiHeadAttention, JSON.parse(JSON.stringify(config))) as MultiHeadAttention;
    expect(copy).toBeInstanceOf(MultiHeadAttention);
    expect(copy.getConfig()).toEqual(config);
    expect(config).toMatchObject({ numHeads: 4, keyDim: 3, valueDim: 5, numKeyValueHeads: 2, dropout: 0.25, useBias: false });
    expect(copy.weights.map((w) => w.shape)).toEqual(layer.weights.map((w) => w.shape));
    copy.setWeights(layer.getWeights());
    const a = layer.call(x, { value: x }) as tf.Tensor;
    const b = copy.call(x, { value: x }) as tf.Tensor;
    expectTensorsClose(b, a, SAME);
    expect(tf.serialization.SerializationMap.getMap().classNameMap.MultiHeadAttention?.[0]).toBe(MultiHeadAttention);
    tf.dispose([x, a, b]);
    layer.dispose();
    copy.dispose();
  });

  it('fromConfig takes a Keras (snake_case) config with Keras initializer, regularizer and dtype-policy forms', () => {
    const keras = {
      name: 'multi_head_attention',
      trainable: true,
      dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' } },
      num_heads: 2,
      key_dim: 3,
      value_dim: 4,
      dropout: 0.0,
      use_bias: true,
      output_shape: null,
      attention_axes: null,
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: { class_name: 'L2', config: { l2: 0.02 } },
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      query_shape: [null, 5, 6],
      key_shape: [null, 7, 6],
      value_shape: [null, 7, 6],
    };
    const layer = MultiHeadAttention.fromConfig(MultiHeadAttention, keras) as MultiHeadAttention;
    expect(layer.name).toBe('multi_head_attention');
    expect(layer.built).toBe(true);
    expect([layer.numHeads, layer.keyDim, layer.valueDim, layer.useBias]).toEqual([2, 3, 4, true]);
    expect(layer.kernelRegularizer?.getConfig()).toEqual({ l1: 0, l2: 0.02 });
    expect(layer.weights.map((w) => [w.originalName, w.shape])).toEqual([
      ['multi_head_attention/query/kernel', [6, 2, 3]],
      ['multi_head_attention/query/bias', [2, 3]],
      ['multi_head_attention/key/kernel', [6, 2, 3]],
      ['multi_head_attention/key/bias', [2, 3]],
      ['multi_head_attention/value/kernel', [6, 2, 4]],
      ['multi_head_attention/value/bias', [2, 4]],
      ['multi_head_attention/attention_output/kernel', [2, 4, 6]],
      ['multi_head_attention/attention_output/bias', [6]],
    ]);
    layer.dispose();
  });

  it('a model topology in Keras form with Keras-named weights loads and computes the oracle output', async () => {
    // What a Keras MultiHeadAttention converted for tfjs holds: the layer config in snake_case and
    // weights named `<layer>/query/kernel` ... `<layer>/attention_output/bias` in Keras order.
    const layerConfig = {
      name: 'multi_head_attention',
      trainable: true,
      dtype: 'float32',
      num_heads: 2,
      key_dim: 4,
      value_dim: 4,
      dropout: 0.0,
      use_bias: true,
      output_shape: null,
      attention_axes: null,
      kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    };
    const inputLayer = (name: string, shape: number[]) => ({
      class_name: 'InputLayer',
      name,
      config: { batch_input_shape: [null, ...shape], dtype: 'float32', sparse: false, name },
      inbound_nodes: [],
    });
    const modelTopology = {
      class_name: 'Functional',
      config: {
        name: 'keras_model',
        layers: [
          inputLayer('query_input', [5, 6]),
          inputLayer('value_input', [3, 6]),
          {
            class_name: 'MultiHeadAttention',
            name: 'multi_head_attention',
            config: layerConfig,
            inbound_nodes: [
              [
                ['query_input', 0, 0, {}],
                ['value_input', 0, 0, {}],
              ],
            ],
          },
        ],
        input_layers: [
          ['query_input', 0, 0],
          ['value_input', 0, 0],
        ],
        output_layers: [['multi_head_attention', 0, 0]],
      },
      keras_version: '2.15.0',
      backend: 'tensorflow',
    };
    const names = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'];
    const shapes = [[6, 2, 4], [2, 4], [6, 2, 4], [2, 4], [6, 2, 4], [2, 4], [2, 4, 6], [6]];
    const tensors = shapes.map((s, i) => randomTensor(s, 40 + i, -0.5, 0.5));
    const { data, specs } = await tf.io.encodeWeights(tensors.map((tensor, i) => ({ name: `multi_head_attention/${names[i]}`, tensor })));
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs: specs, weightData: data }));

    const f = tensors.map(toF64);
    const weights: F64Weights = {
      queryKernel: f[0]!,
      queryBias: f[1]!,
      keyKernel: f[2]!,
      keyBias: f[3]!,
      valueKernel: f[4]!,
      valueBias: f[5]!,
      outputKernel: f[6]!,
      outputBias: f[7]!,
    };
    const q = input([2, 5, 6], 50);
    const v = input([2, 3, 6], 51);
    const out = model.predict([q.t, v.t]) as tf.Tensor;
    const expected = mhaOracle({ query: q.f, value: v.f, weights });
    expectTensorsClose(out, expected.output.data, { rtol: 1e-4, atol: 1e-5 });
    tf.dispose([...tensors, q.t, v.t, out]);
    model.dispose();
  });
});
