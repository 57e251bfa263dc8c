import { describe, expect, it } from 'vitest';
import * as internal from './internal.js';
import * as masking from './index.js';

// The public entry is the API of ARCHITECTURE.md; shared validation helpers live in ./internal.
const API = ['AttentionError', 'MASK_FILL', 'causalMask', 'combineMasks', 'maskToBias', 'paddingMask', 'prefixLMMask', 'segmentMask', 'slidingWindowMask'];
// Shared by the layer packages, never public: validation, mask coercion and class registration.
const INTERNAL = [
  'REGISTRATION_PREFIX',
  'andKeyPaddingMask',
  'broadcastShapes',
  'check',
  'defaultLayerName',
  'formatShape',
  'registerAttnkitClass',
  'toBoolMask',
];

describe('@attnkit/masking entry points', () => {
  it('the public entry exports the API only', () => {
    expect(Object.keys(masking).sort()).toEqual([...API].sort());
  });

  it('./internal exports the shared helpers only', () => {
    expect(Object.keys(internal).sort()).toEqual([...INTERNAL].sort());
    expect(internal.broadcastShapes([2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(internal.formatShape([2, 4, 8])).toBe('[2,4,8]');
  });
});
