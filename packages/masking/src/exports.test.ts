import { describe, expect, it } from 'vitest';
import * as internal from './internal.js';
import * as masking from './index.js';

// The public entry is the API of ARCHITECTURE.md; shared validation helpers live in ./internal.
const API = ['AttentionError', 'MASK_FILL', 'causalMask', 'combineMasks', 'maskToBias', 'paddingMask', 'prefixLMMask', 'segmentMask', 'slidingWindowMask'];
// Deprecated re-exports of internals, kept until every workspace package imports ./internal.
const DEPRECATED = ['broadcastShapes', 'check', 'formatShape'];
// Shared by the layer packages, never public: mask coercion and class registration.
const INTERNAL_ONLY = ['REGISTRATION_PREFIX', 'andKeyPaddingMask', 'defaultLayerName', 'registerAttnkitClass', 'toBoolMask'];

describe('@attnkit/masking entry points', () => {
  it('the public entry exports the API (and the deprecated internals) only', () => {
    expect(Object.keys(masking).sort()).toEqual([...API, ...DEPRECATED].sort());
  });

  it('./internal exports the shared helpers, the same functions as the deprecated names', () => {
    expect(Object.keys(internal).sort()).toEqual([...DEPRECATED, ...INTERNAL_ONLY].sort());
    expect(masking.check).toBe(internal.check);
    expect(masking.formatShape).toBe(internal.formatShape);
    expect(masking.broadcastShapes).toBe(internal.broadcastShapes);
    expect(internal.broadcastShapes([2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(internal.formatShape([2, 4, 8])).toBe('[2,4,8]');
  });
});
