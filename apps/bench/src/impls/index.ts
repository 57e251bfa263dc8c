/** Every registered implementation, in table order. Add new ones here (one line each). */
import type { BenchImplementation } from '../registry.js';
import { attnkitImplementations } from './attnkit.js';
import { attnkitDecoder } from './attnkit-decoder.js';
import { attnkitMha } from './attnkit-mha.js';
import { matmulImplementations } from './matmul.js';
import { onnxruntimeNode, onnxruntimeWeb } from './onnxruntime.js';
import { plainTfjs } from './plain-tfjs.js';
import { ruvector } from './ruvector.js';
import { tfjsLayersMha } from './tfjs-layers-mha.js';

/**
 * Layer and model level beside attention level: `attnkit-mha` (@attnkit/multi-head's layer,
 * beside tfjs-layers-mha, same float64 layer oracle) and `attnkit-decoder` (@attnkit/transformer
 * greedyDecode with and without caches, in the decode modes; T = source length there).
 */
export const IMPLEMENTATION_LIST: readonly BenchImplementation[] = [
  ...attnkitImplementations,
  plainTfjs,
  attnkitMha,
  tfjsLayersMha,
  attnkitDecoder,
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
