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
