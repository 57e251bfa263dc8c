import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tfl from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { SinusoidalPositionEncoding, sinusoidalEncoding } from './index.js';

/**
 * Independent float64 recipe, straight from the paper's formula:
 * PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(pos / base^(2i/d)).
 */
function referenceEncoding(length: number, dim: number, offset = 0, base = 10000): Float64Array {
  const out = new Float64Array(length * dim);
  for (let t = 0; t < length; t++) {
    const pos = offset + t;
    for (let i = 0; 2 * i < dim; i++) {
      const denominator = base ** ((2 * i) / dim);
      out[t * dim + 2 * i] = Math.sin(pos / denominator);
      if (2 * i + 1 < dim) out[t * dim + 2 * i + 1] = Math.cos(pos / denominator);
    }
  }
  return out;
}

// One float32 rounding of a float64 value in [-1, 1].
const TIGHT = { rtol: 1e-6, atol: 1e-7 };

describeEachBackend('sinusoidalEncoding', () => {
  it('golden values by hand: position 0 is [0, 1, 0, 1], position 1 of dim 4 uses base^(1/2) = 100', () => {
    const pe = sinusoidalEncoding(2, 4);
    expect(pe.shape).toEqual([2, 4]);
    expect(pe.dtype).toBe('float32');
    expectTensorsClose(pe, [0, 1, 0, 1, Math.sin(1), Math.cos(1), Math.sin(0.01), Math.cos(0.01)], TIGHT);
    pe.dispose();
  });

  it('matches the float64 formula for model sizes, offsets, bases and odd dims', () => {
    for (const [length, dim, offset, base] of [
      [50, 64, 0, 10000],
      [7, 512, 3, 10000],
      [9, 10, 0, 500],
      [4, 7, 11, 10000],
      [3, 32, 50000, 10000], // float64 angles keep large positions accurate
    ] as const) {
      const pe = sinusoidalEncoding(length, dim, { offset, base });
      expectTensorsClose(pe, referenceEncoding(length, dim, offset, base), {
        ...TIGHT,
        label: `length ${length} dim ${dim} offset ${offset} base ${base}`,
      });
      pe.dispose();
    }
  });

  it('an offset gives the matching rows of the longer table', () => {
    const full = sinusoidalEncoding(12, 16);
    const tail = sinusoidalEncoding(4, 16, { offset: 8 });
    expectTensorsClose(tail, tf.slice(full, [8, 0], [4, 16]), { rtol: 0, atol: 0 });
    tf.dispose([full, tail]);
  });

  it('does not leak', async () => {
    await expectNoLeak(() => sinusoidalEncoding(6, 8, { offset: 2 }));
  });

  it('rejects bad sizes, offsets and bases with a message, leaking nothing', () => {
    expectThrowsWithoutLeak(() => sinusoidalEncoding(0, 8), /sinusoidalEncoding: length must be a positive integer, but got 0/);
    expectThrowsWithoutLeak(() => sinusoidalEncoding(4, 1.5), /sinusoidalEncoding: dim must be a positive integer, but got 1.5/);
    expectThrowsWithoutLeak(() => sinusoidalEncoding(4, 8, { offset: -1 }), /sinusoidalEncoding: offset must be a non-negative integer, but got -1/);
    expectThrowsWithoutLeak(() => sinusoidalEncoding(4, 8, { base: 0 }), /sinusoidalEncoding: base must be a positive finite number, but got 0/);
  });
});

describeEachBackend('SinusoidalPositionEncoding layer', () => {
  it('adds the encoding at the given offset to [B, T, d] inputs', () => {
    const layer = new SinusoidalPositionEncoding();
    const x = randomTensor([2, 5, 6], 1);
    const xs = x.dataSync();
    const pe = referenceEncoding(5, 6, 3);
    const expected = Float64Array.from(xs, (v, k) => v + pe[k % 30]!);
    const y = layer.apply(x, { offset: 3 }) as tf.Tensor;
    expect(y.shape).toEqual([2, 5, 6]);
    expectTensorsClose(y, expected, TIGHT);
    tf.dispose([x, y]);
  });

  it('encoding token by token with offsets equals encoding the whole sequence', () => {
    const layer = new SinusoidalPositionEncoding({ base: 100 });
    const x = randomTensor([1, 6, 8], 2);
    const whole = layer.apply(x) as tf.Tensor;
    const steps = Array.from({ length: 6 }, (_, t) => layer.apply(tf.slice(x, [0, t, 0], [1, 1, 8]), { offset: t }) as tf.Tensor);
    expectTensorsClose(tf.concat(steps, 1), whole, { rtol: 0, atol: 0 });
    tf.dispose([x, whole, ...steps]);
  });

  it('round-trips through save and load with its base', async () => {
    const model = tfl.sequential({
      layers: [new SinusoidalPositionEncoding({ base: 500, inputShape: [4, 6] })],
    });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    expect(JSON.stringify(artifacts!.modelTopology)).toContain('attnkit>SinusoidalPositionEncoding');
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    expect((loaded.layers[0] as SinusoidalPositionEncoding).base).toBe(500);
    const x = randomTensor([2, 4, 6], 3);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('does not leak', async () => {
    const layer = new SinusoidalPositionEncoding();
    const x = randomTensor([2, 3, 4], 4);
    await expectNoLeak(() => layer.apply(x, { offset: 1 }));
    x.dispose();
  });

  it('rejects bad inputs and offsets with a message, leaking nothing', () => {
    const layer = new SinusoidalPositionEncoding();
    const x2 = tf.zeros([3, 4]);
    const xi = tf.zeros([1, 3, 4], 'int32');
    const x = tf.zeros([1, 3, 4]);
    expectThrowsWithoutLeak(() => layer.apply(x2), /SinusoidalPositionEncoding: inputs must be rank 3 \[B, T, d\], but got inputs \[3,4\]/);
    expectThrowsWithoutLeak(() => layer.apply(xi), /SinusoidalPositionEncoding: inputs must be float32, but got 'int32'/);
    expectThrowsWithoutLeak(() => layer.apply(x, { offset: 1.5 }), /SinusoidalPositionEncoding: offset must be a non-negative integer, but got 1.5/);
    expect(() => new SinusoidalPositionEncoding({ base: -1 })).toThrow(/SinusoidalPositionEncoding: base must be a positive finite number, but got -1/);
    tf.dispose([x2, xi, x]);
  });
});
