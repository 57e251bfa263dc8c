// A consumer's tf.model built from every attnkit layer, run by scripts/pack-install.sh in a
// fresh npm project where only the packed tarballs are installed. `node layers-model.mjs save DIR`
// builds the model (positions, MultiHeadAttention, encoder, decoder, CrossAttention), fits it
// (every weight must change), saves topology and weights as files under DIR and prints the
// outputs on a fixed input; `node layers-model.mjs load DIR` is the second process: it loads the
// files with tf.loadLayersModel and prints the outputs, which the script compares.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '@attnkit/cross-attention';
import '@attnkit/multi-head';
import '@attnkit/positional';
import '@attnkit/transformer';
import { CrossAttention } from '@attnkit/cross-attention';
import { MultiHeadAttention } from '@attnkit/multi-head';
import { PositionEmbedding, SinusoidalPositionEncoding } from '@attnkit/positional';
import { TransformerDecoderLayer, TransformerEncoderLayer } from '@attnkit/transformer';
import * as tf from '@tensorflow/tfjs';

const [mode, dir] = process.argv.slice(2);
tf.enableProdMode();
await tf.setBackend('cpu');
const seeded = (seed) => tf.initializers.glorotUniform({ seed });
const inputs = () => [tf.randomNormal([3, 5, 8], 0, 1, 'float32', 1), tf.randomNormal([3, 6, 8], 0, 1, 'float32', 2)];

if (mode === 'save') {
  const x = tf.input({ shape: [5, 8] });
  const memory = tf.input({ shape: [6, 8] });
  const positioned = tf.layers.add().apply([x, new PositionEmbedding({ maxLength: 16, name: 'positions' }).apply(x)]);
  const h = new SinusoidalPositionEncoding({ name: 'sinusoid' }).apply(positioned);
  const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, name: 'mha', kernelInitializer: seeded(1) }).apply([h, h]);
  const enc = new TransformerEncoderLayer({ dModel: 8, numHeads: 2, ffDim: 16, dropout: 0, seed: 2, name: 'enc' }).apply(mha);
  const dec = new TransformerDecoderLayer({ dModel: 8, numHeads: 2, ffDim: 16, dropout: 0, seed: 3, name: 'dec' }).apply([enc, memory]);
  const y = new CrossAttention({ numHeads: 2, keyDim: 4, name: 'xattn', kernelInitializer: seeded(4) }).apply([dec, memory]);
  const model = tf.model({ inputs: [x, memory], outputs: y });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  const before = model.getWeights().map((w) => w.dataSync().slice());
  const data = inputs();
  await model.fit(data, tf.randomNormal([3, 5, 8], 0, 1, 'float32', 3), { epochs: 2, batchSize: 3, verbose: 0 });
  const unchanged = model.getWeights().filter((w, i) => w.dataSync().every((v, j) => v === before[i][j]));
  if (model.getWeights().length < 40 || unchanged.length > 0) {
    console.error(`layers-model: ${unchanged.length} of ${model.getWeights().length} weights unchanged by fit`);
    process.exit(1);
  }
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, weightSpecs: a.weightSpecs }));
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  console.log(JSON.stringify({ weights: model.getWeights().length, output: Array.from(model.predict(data).dataSync()) }));
} else {
  const { modelTopology, weightSpecs } = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const bin = readFileSync(join(dir, 'weights.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology, weightSpecs, weightData }));
  console.log(JSON.stringify({ weights: model.getWeights().length, output: Array.from(model.predict(inputs()).dataSync()) }));
}
