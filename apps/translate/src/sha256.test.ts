import { createHash } from 'node:crypto';
import { seededRandom } from '@attnkit/test-utils';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from './sha256.js';

describe('sha256Hex', () => {
  it('gives the FIPS 180-4 example digests', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(sha256Hex(ascii(''))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(ascii('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it("equals node:crypto's SHA-256 at every padding boundary and on a subarray view", () => {
    const rand = seededRandom(7);
    const data = Uint8Array.from({ length: 3000 }, () => Math.floor(rand() * 256));
    for (const n of [1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 2999]) {
      const bytes = data.subarray(1, 1 + n);
      expect(sha256Hex(bytes), `${n} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });
});
