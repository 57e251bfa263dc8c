/**
 * `@attnkit/masking/internal`: helpers the attnkit packages share, not part of the public API
 * (no semver promise; they may change in any release). Validation: `check` throws a lazily
 * built AttentionError; `formatShape` writes a shape as messages show it; `broadcastShapes`
 * is numpy's broadcasting rule on two shapes.
 */
export { check, formatShape } from './errors.js';
export { broadcastShapes } from './masks.js';
