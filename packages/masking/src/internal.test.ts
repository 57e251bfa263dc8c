import { useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { REGISTRATION_PREFIX, andKeyPaddingMask, defaultLayerName, registerAttnkitClass, toBoolMask } from './internal.js';

describe('@attnkit/masking/internal: layer masks', () => {
  beforeAll(() => useBackend('cpu'));
  it('toBoolMask keeps a bool mask and reads other dtypes as nonzero = attend', () => {
    const bool = tf.tensor([true, false], [2], 'bool');
    expect(toBoolMask(bool)).toBe(bool);
    const ints = toBoolMask(tf.tensor([1, 0, 2], [3], 'int32'));
    expect(ints.dtype).toBe('bool');
    expect(Array.from(ints.dataSync())).toEqual([1, 0, 1]);
    expect(Array.from(toBoolMask(tf.tensor([0.5, 0])).dataSync())).toEqual([1, 0]);
  });

  it('andKeyPaddingMask ANDs a [B, 1, Tk] padding mask with a [Tq, Tk] or per-head [B, N, Tq, Tk] mask', () => {
    const padding = tf.tensor([[[true, true, false]]], [1, 1, 3], 'bool'); // [B, 1, Tk]
    const causal = tf.tensor([1, 0, 0, 1, 1, 0, 1, 1, 1], [3, 3], 'float32'); // [Tq, Tk], 0/1
    expect(andKeyPaddingMask(null, null)).toBeNull();
    expect(andKeyPaddingMask(padding, null)).toBe(padding);
    expect(andKeyPaddingMask(null, causal)!.dtype).toBe('bool');
    const both = andKeyPaddingMask(padding, causal)!;
    expect(both.shape).toEqual([1, 3, 3]);
    expect(both.arraySync()).toEqual([
      [
        [1, 0, 0],
        [1, 1, 0],
        [1, 1, 0],
      ],
    ]);
    const perHead = andKeyPaddingMask(padding, tf.ones([1, 2, 3, 3], 'bool'))!;
    expect(perHead.shape).toEqual([1, 2, 3, 3]);
    expect(Array.from(perHead.dataSync()).filter((v) => v === 0)).toHaveLength(2 * 3);
  });
});

describe('@attnkit/masking/internal: registration', () => {
  class Probe extends tf.serialization.Serializable {
    static className = 'attnkit>MaskingProbe';
    getConfig() {
      return {};
    }
  }
  class Unprefixed extends tf.serialization.Serializable {
    static className = 'MaskingUnprefixed';
    getConfig() {
      return {};
    }
  }

  it('registers the prefixed className and each alias for the same class', () => {
    registerAttnkitClass(Probe, 'MaskingProbe', 'OldMaskingProbe');
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    expect(map[`${REGISTRATION_PREFIX}MaskingProbe`]![0]).toBe(Probe);
    expect(map.MaskingProbe![0]).toBe(Probe);
    expect(map.OldMaskingProbe![0]).toBe(Probe);
  });

  it('refuses a className without the prefix, by name', () => {
    expect(() => registerAttnkitClass(Unprefixed)).toThrow(/registerAttnkitClass: MaskingUnprefixed lacks the attnkit> prefix/);
  });

  it('defaultLayerName keeps a given name and counts per prefix otherwise', () => {
    expect(defaultLayerName('mine', 'probe')).toBe('mine');
    const a = defaultLayerName(undefined, 'masking_probe');
    const b = defaultLayerName(undefined, 'masking_probe');
    expect(a).toMatch(/^masking_probe_\d+$/);
    expect(Number(b.split('_').pop())).toBe(Number(a.split('_').pop()) + 1);
  });
});
