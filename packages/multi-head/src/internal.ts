/**
 * `@attnkit/multi-head/internal`: layer plumbing the attnkit layer packages share, not part of
 * the public API (no semver promise). `countBuiltLayer` lets tfjs' `dispose()` dispose a layer
 * that `build()` built (tfjs counts references only from `apply()`).
 */
export { countBuiltLayer } from './scope.js';
