import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectNoLeak } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignWeights, loadCheckpoint, namedWeights, saveCheckpoint } from './checkpoint.js';
import { licenceOf } from './data/sources.js';
import { BPETokenizer } from './tokenizer/bpe.js';

const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
const tokenizer = BPETokenizer.train(['neunundzwanzig', 'twenty-nine', 'einundzwanzig', 'twenty-one'], { vocabSize: 40 });
const config = { dModel: 8, numHeads: 2, layers: [1, 1], tied: true, note: 'ü' };

let variables: tf.Variable[];

beforeAll(async () => {
  await tf.setBackend('cpu');
  // Values that float rounding would expose: tiny, huge, negative zero, a long mantissa.
  variables = [
    tf.variable(
      tf.tensor2d([
        [1e-30, -0, 3.4e38],
        [Math.PI, -1 / 3, 7],
      ]),
      true,
      'encoder/layer_0/query/kernel',
    ),
    tf.variable(tf.tensor1d([0.1, 0.2, 0.3, 0.4]), true, 'encoder/layer_0/query/bias'),
    tf.variable(tf.tensor1d([3, -4, 2147483647], 'int32'), false, 'step_counts'),
  ];
});

afterAll(() => {
  tf.dispose(variables);
  rmSync(dir, { recursive: true, force: true });
});

async function writeGood(name: string): Promise<string> {
  const path = join(dir, name);
  await saveCheckpoint(path, { config, tokenizer, metadata: { trainingData: ['numbers'], step: 12 }, weights: namedWeights(variables) });
  return path;
}

describe('checkpoint round trip', () => {
  it('restores config, tokenizer, metadata and every weight bit for bit', async () => {
    const path = await writeGood('round.ckpt');
    const ck = loadCheckpoint(path);
    expect(ck.config).toEqual(config);
    expect(ck.metadata).toEqual({ trainingData: ['numbers'], step: 12 });
    expect(ck.shippable).toBe(true);
    expect(ck.tokenizer.toJSON()).toEqual(tokenizer.toJSON());
    expect(Object.keys(ck.weights).sort()).toEqual(variables.map((v) => v.name).sort());
    for (const v of variables) {
      const t = ck.weights[v.name]!;
      expect(t.dtype).toBe(v.dtype);
      expect(t.shape).toEqual(v.shape);
      expect(Array.from(t.dataSync())).toEqual(Array.from(v.dataSync()));
    }
    expect(Object.is(ck.weights['encoder/layer_0/query/kernel']!.dataSync()[1], -0)).toBe(true);
    tf.dispose(Object.values(ck.weights));
  });

  it('loads into a fresh model with the same variable names, and load→assign leaks nothing', async () => {
    // A "model" of two variables; the second instance reuses the names, as a rebuilt model would.
    const build = (init: (shape: number[]) => tf.Tensor) => [tf.variable(init([3, 2]), true, 'm/dense/kernel'), tf.variable(init([2]), true, 'm/dense/bias')];
    const trained = build((shape) => tf.randomNormal(shape, 0, 1, 'float32', 7));
    const expected = trained.map((v) => Array.from(v.dataSync()));
    const path = join(dir, 'assign.ckpt');
    await saveCheckpoint(path, { config, tokenizer, metadata: { trainingData: ['numbers'] }, weights: namedWeights(trained) });
    tf.dispose(trained);
    const fresh = build((shape) => tf.zeros(shape));
    await expectNoLeak(() => {
      const ck = loadCheckpoint(path);
      assignWeights(fresh, ck.weights);
      tf.dispose(Object.values(ck.weights));
    });
    expect(fresh.map((v) => Array.from(v.dataSync()))).toEqual(expected);
    tf.dispose(fresh);
  });

  it('records the training data of a model trained on Ding data, which ships under the GPL', async () => {
    const path = join(dir, 'ding.ckpt');
    await saveCheckpoint(path, { config, tokenizer, metadata: { trainingData: ['numbers', 'ding'] }, weights: namedWeights(variables) });
    const ck = loadCheckpoint(path);
    expect(ck.metadata.trainingData).toEqual(['numbers', 'ding']);
    expect(ck.shippable).toBe(true);
    expect(licenceOf(ck.metadata.trainingData)).toBe('GPL-2.0-or-later');
    expect(licenceOf(['numbers'])).toBe('MIT');
    tf.dispose(Object.values(ck.weights));
  });

  it('writes atomically: no temporary file is left and an overwrite replaces the whole file', async () => {
    const path = await writeGood('atomic.ckpt');
    const first = readFileSync(path);
    await saveCheckpoint(path, { config: { ...config, dModel: 16 }, tokenizer, metadata: { trainingData: ['numbers'] }, weights: namedWeights(variables) });
    expect(readFileSync(path).equals(first)).toBe(false);
    const ck = loadCheckpoint(path);
    expect(ck.config.dModel).toBe(16);
    tf.dispose(Object.values(ck.weights));
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('damaged checkpoints', () => {
  let good: Buffer;
  let headerLength: number;
  beforeAll(async () => {
    good = readFileSync(await writeGood('damage-src.ckpt'));
    headerLength = good.readUInt32LE(12);
  });

  function damaged(name: string, bytes: Uint8Array): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }

  it('names the file and the missing bytes when the weights are truncated', () => {
    const path = damaged('cut-weights.ckpt', good.subarray(0, good.byteLength - 5));
    const weightBytes = good.byteLength - 48 - headerLength;
    expect(() => loadCheckpoint(path)).toThrow(
      new RegExp(
        `loadCheckpoint: ${path.replaceAll('.', '\\.')}: file is truncated: weights need ${weightBytes} bytes after the header, but got '${weightBytes - 5} bytes'`,
      ),
    );
  });

  it('reports a truncated header and a truncated prefix', () => {
    expect(() => loadCheckpoint(damaged('cut-header.ckpt', good.subarray(0, 60)))).toThrow(
      /cut-header\.ckpt: file is truncated: header should span bytes 48\.\.\d+, but got 'a file of 60 bytes'/,
    );
    expect(() => loadCheckpoint(damaged('cut-prefix.ckpt', good.subarray(0, 10)))).toThrow(
      /cut-prefix\.ckpt: file is truncated: the 48-byte prefix is incomplete, but got '10 bytes'/,
    );
    expect(() => loadCheckpoint(damaged('empty.ckpt', new Uint8Array(0)))).toThrow(/empty\.ckpt: file is truncated/);
  });

  it('detects a flipped bit in the weights by checksum', () => {
    const bytes = Buffer.from(good);
    bytes[bytes.byteLength - 3]! ^= 0x10;
    expect(() => loadCheckpoint(damaged('flip-weights.ckpt', bytes))).toThrow(
      /flip-weights\.ckpt: weights are corrupted: SHA-256 should be [0-9a-f]{64}, but got '[0-9a-f]{64}'/,
    );
  });

  it('detects a corrupted header by checksum', () => {
    const bytes = Buffer.from(good);
    bytes[48 + 5]! ^= 0x01;
    expect(() => loadCheckpoint(damaged('flip-header.ckpt', bytes))).toThrow(/flip-header\.ckpt: header is corrupted: SHA-256 should be/);
  });

  it('reports a header that is not JSON even when its checksum is right', async () => {
    const { createHash } = await import('node:crypto');
    const header = Buffer.from('{"format": "attnkit-translate-checkpoint", oops}');
    const prefix = Buffer.from(good.subarray(0, 48));
    prefix.writeUInt32LE(header.byteLength, 12);
    createHash('sha256').update(header).digest().copy(prefix, 16);
    expect(() => loadCheckpoint(damaged('bad-json.ckpt', Buffer.concat([prefix, header])))).toThrow(
      /bad-json\.ckpt: header is not valid UTF-8 JSON, but got '.*JSON/,
    );
  });

  it('rejects other files, trailing bytes and missing files', () => {
    expect(() => loadCheckpoint(damaged('other.ckpt', Buffer.alloc(100, 65)))).toThrow(
      /other\.ckpt: not an attnkit checkpoint \(magic should be 'ATNKCKPT'\), but got 'AAAAAAAA'/,
    );
    expect(() => loadCheckpoint(damaged('long.ckpt', Buffer.concat([good, Buffer.from([0])])))).toThrow(
      /long\.ckpt: file has trailing bytes after the weights/,
    );
    expect(() => loadCheckpoint(join(dir, 'missing.ckpt'))).toThrow(/missing\.ckpt: cannot read the checkpoint file, but got 'ENOENT'/);
    expect(existsSync(join(dir, 'missing.ckpt'))).toBe(false);
  });
});

describe('assignWeights', () => {
  it('refuses missing, misshapen and unused weights before assigning anything', () => {
    const a = tf.variable(tf.zeros([2, 2]), true, 'assign_a');
    const b = tf.variable(tf.zeros([3]), true, 'assign_b');
    const wa = tf.ones([2, 2]);
    const wb = tf.ones([4]);
    const extra = tf.ones([1]);
    expect(() => assignWeights([a, b], { assign_a: wa })).toThrow(
      /assignWeights: every variable needs a weight of the same name, but got 'no weight for 'assign_b''/,
    );
    expect(() => assignWeights([a, b], { assign_a: wa, assign_b: wb })).toThrow(
      /assignWeights: weight 'assign_b' must have the variable's shape, but got variable \[3\] and weight \[4\]/,
    );
    expect(() => assignWeights([a], { assign_a: wa, extra })).toThrow(/every weight must match a variable \(pass allowUnused to skip\), but got 'extra'/);
    expect(Array.from(a.dataSync())).toEqual([0, 0, 0, 0]);
    assignWeights([a], { assign_a: wa, extra }, { allowUnused: true });
    expect(Array.from(a.dataSync())).toEqual([1, 1, 1, 1]);
    expect(() => namedWeights([a, a])).toThrow(/namedWeights: weight names must be unique, but got 'assign_a'/);
    tf.dispose([a, b, wa, wb, extra]);
  });
});
