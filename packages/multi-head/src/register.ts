/**
 * The `attnkit>` registration prefix and default layer names, re-exported: they live in
 * `@attnkit/masking/internal`, so that positional (a leaf) registers its layers the same way.
 */
export { REGISTRATION_PREFIX, defaultLayerName, registerAttnkitClass } from '@attnkit/masking/internal';
