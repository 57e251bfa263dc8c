import { broadcastShapes as broadcastShapesInternal, check as checkInternal, formatShape as formatShapeInternal } from './internal.js';

export { AttentionError } from './errors.js';
export {
  MASK_FILL,
  causalMask,
  combineMasks,
  maskToBias,
  paddingMask,
  prefixLMMask,
  segmentMask,
  slidingWindowMask,
} from './masks.js';
export type { AlignmentOptions, PaddingMaskOptions, SlidingWindowOptions } from './masks.js';

// Internals kept here only until every workspace package imports them from
// '@attnkit/masking/internal'; they will leave the public entry in the next minor release.
/** @deprecated Internal: import from `@attnkit/masking/internal`. */
export const check: typeof checkInternal = checkInternal;
/** @deprecated Internal: import from `@attnkit/masking/internal`. */
export const formatShape: typeof formatShapeInternal = formatShapeInternal;
/** @deprecated Internal: import from `@attnkit/masking/internal`. */
export const broadcastShapes: typeof broadcastShapesInternal = broadcastShapesInternal;
