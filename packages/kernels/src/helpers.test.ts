import { TOLERANCES, attentionOracle, expectTensorsClose, f64, randomValues } from '@attnkit/test-utils';
import { describe, expect, it } from 'vitest';
import { type StartHelper, WasmAttention, compileWasmModule } from './wasm.js';

// Starting helper threads can fail where threads are not allowed (a browser page whose
// Content-Security-Policy forbids blob: workers, say): the module then runs on the calling
// thread alone, and still computes the right numbers.
describe('helper threads that fail to start', () => {
  it('are all stopped, and calls run on the calling thread alone', async () => {
    const module = await compileWasmModule('simd');
    const stopped: number[] = [];
    const start: StartHelper = ({ index }) => ({
      ready: index === 1 ? Promise.reject(new Error('no worker here')) : Promise.resolve(),
      stop: () => stopped.push(index),
    });
    const attention = await WasmAttention.start(module, 'simd', 3, start);
    expect(attention.threads).toBe(1);
    expect(stopped).toEqual([0, 1]);

    // 3 heads x 11 rows of 6 keys: with helpers that never run, a call would wait for them forever
    const [B, Hq, Hkv, Tq, Tk, Dk, Dv] = [1, 3, 3, 11, 6, 8, 8];
    const query = randomValues(B * Hq * Tq * Dk, 1);
    const key = randomValues(B * Hkv * Tk * Dk, 2);
    const value = randomValues(B * Hkv * Tk * Dv, 3);
    const shape = { B, Hq, Hkv, Tq, Tk, Dk, Dv, scale: 1 / Math.sqrt(Dk), left: 2 ** 30, right: 2 ** 30, offset: Tk - Tq };
    const output = attention.forward(shape, { query, key, value, mask: null, bias: null }, (out) => out.slice());
    const oracle = attentionOracle({ query: f64(query, [B, Hq, Tq, Dk]), key: f64(key, [B, Hkv, Tk, Dk]), value: f64(value, [B, Hkv, Tk, Dv]) });
    expectTensorsClose(output, oracle.output.data, { ...TOLERANCES.oracleForward, label: 'output vs oracle' });
  });
});
