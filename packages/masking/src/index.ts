export { AttentionError, check, formatShape } from './errors.js';
export {
  MASK_FILL,
  broadcastShapes,
  causalMask,
  combineMasks,
  maskToBias,
  paddingMask,
  prefixLMMask,
  segmentMask,
  slidingWindowMask,
} from './masks.js';
export type { AlignmentOptions, PaddingMaskOptions, SlidingWindowOptions } from './masks.js';
