/**
 * `@attnkit/masking/internal`: helpers the attnkit packages share, not part of the public API
 * (no semver promise; they may change in any release). Validation: `check` throws a lazily
 * built AttentionError; `formatShape` writes a shape as messages show it; `broadcastShapes`
 * is numpy's broadcasting rule on two shapes. Layer masks: `toBoolMask` (bool as is, nonzero =
 * attend otherwise) and `andKeyPaddingMask`. Registration: `registerAttnkitClass` (the
 * `attnkit>` prefix, old names as aliases) and `defaultLayerName`.
 */
export { check, formatShape } from './errors.js';
export { andKeyPaddingMask, broadcastShapes, toBoolMask } from './masks.js';
export { REGISTRATION_PREFIX, defaultLayerName, registerAttnkitClass } from './register.js';
