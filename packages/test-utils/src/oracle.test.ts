import { describe, expect, it } from 'vitest';
import { attentionOracle, attentionOracleGrad, f64, type OracleInput } from './oracle.js';
import { randomValues } from './random.js';

// The oracle is the yardstick for every package, so it is checked against hand-computed
// numbers and against finite differences of itself.
describe('attentionOracle', () => {
  it('matches a hand-computed case', () => {
    // One head, Tq = 1, Tk = 2, Dk = 1, scale 1: logits [1*1, 1*2] = [1, 2].
    const r = attentionOracle({
      query: f64([1], [1, 1, 1, 1]),
      key: f64([1, 2], [1, 1, 2, 1]),
      value: f64([10, 20], [1, 1, 2, 1]),
      scale: 1,
    });
    const w0 = Math.exp(1) / (Math.exp(1) + Math.exp(2));
    expect(r.weights.data[0]).toBeCloseTo(w0, 14);
    expect(r.weights.data[1]).toBeCloseTo(1 - w0, 14);
    expect(r.output.data[0]).toBeCloseTo(10 * w0 + 20 * (1 - w0), 12);
  });

  it('aligns causal bottom-right and zeroes fully masked rows', () => {
    const q = f64(randomValues(3 * 2, 1), [1, 1, 3, 2]);
    const kv = f64(randomValues(5 * 2, 2), [1, 1, 5, 2]);
    const r = attentionOracle({ query: q, key: kv, value: kv, causal: true });
    // Tq=3, Tk=5: query 0 sees keys 0..2, query 2 sees all five.
    expect(Array.from(r.weights.data.slice(0, 5)).map((w) => w > 0)).toEqual([true, true, true, false, false]);
    expect(Array.from(r.weights.data.slice(10, 15)).every((w) => w > 0)).toBe(true);
    const none = attentionOracle({ query: q, key: kv, value: kv, mask: f64([0, 0, 0, 0, 0], [5]) });
    expect(Array.from(none.output.data).every((x) => x === 0)).toBe(true);
    expect(Array.from(none.weights.data).every((x) => x === 0)).toBe(true);
  });

  it('has gradients equal to central finite differences', () => {
    const input: OracleInput = {
      query: f64(randomValues(1 * 4 * 3 * 3, 3), [1, 4, 3, 3]),
      key: f64(randomValues(1 * 2 * 4 * 3, 4), [1, 2, 4, 3]),
      value: f64(randomValues(1 * 2 * 4 * 2, 5), [1, 2, 4, 2]),
      bias: f64(randomValues(4 * 3 * 4, 6), [4, 3, 4]),
      mask: f64([1, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 0], [1, 3, 4]),
      causal: true,
    };
    const dOut = f64(randomValues(1 * 4 * 3 * 2, 7), [1, 4, 3, 2]);
    const loss = () => {
      const o = attentionOracle(input).output.data;
      return o.reduce((acc, x, i) => acc + x * dOut.data[i]!, 0);
    };
    const grads = attentionOracleGrad(input, dOut);
    const pairs = [
      [input.query, grads.dQuery],
      [input.key, grads.dKey],
      [input.value, grads.dValue],
      [input.bias!, grads.dBias!],
    ] as const;
    const h = 1e-6;
    for (const [x, g] of pairs) {
      for (let i = 0; i < x.data.length; i++) {
        const orig = x.data[i]!;
        x.data[i] = orig + h;
        const up = loss();
        x.data[i] = orig - h;
        const down = loss();
        x.data[i] = orig;
        expect(g.data[i]).toBeCloseTo((up - down) / (2 * h), 6);
      }
    }
  });
});
