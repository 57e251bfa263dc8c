/** Every registered implementation, in table order. Add new ones here (one line each). */
import type { BenchImplementation } from '../registry.js';
import { attnkitImplementations } from './attnkit.js';
import { matmulImplementations } from './matmul.js';
import { onnxruntimeNode, onnxruntimeWeb } from './onnxruntime.js';
import { plainTfjs } from './plain-tfjs.js';
import { ruvector } from './ruvector.js';
import { tfjsLayersMha } from './tfjs-layers-mha.js';

/**
 * Extension points, not yet filled because their packages are not on this branch:
 *  - `attnkit-mha`: @attnkit/multi-head's MultiHeadAttention at layer level, beside
 *    tfjs-layers-mha (same `level: 'layer'`, same oracle with projections);
 *  - `attnkit-decoder`: @attnkit/transformer decoding (tokens/s with and without KV cache)
 *    in the `decode-kv-cache` / `decode-no-cache` modes, beside the attention-level ones here.
 */
export const IMPLEMENTATION_LIST: readonly BenchImplementation[] = [
  ...attnkitImplementations,
  plainTfjs,
  tfjsLayersMha,
  onnxruntimeNode,
  onnxruntimeWeb,
  ruvector,
  ...matmulImplementations,
];

export function findImplementation(name: string): BenchImplementation {
  const impl = IMPLEMENTATION_LIST.find((i) => i.name === name);
  if (!impl) throw new Error(`bench: no implementation named '${name}'`);
  return impl;
}
