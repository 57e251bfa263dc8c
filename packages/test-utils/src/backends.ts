// The union package registers every gradient and chained op (tfjs-core alone has none).
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe } from 'vitest';

/** The tfjs backends every package is tested on in Node. */
export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/** Switches tfjs to `name` and waits until it is ready (wasm compiles its module once). */
export async function useBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`test-utils: backend '${name}' failed to initialise`);
  await tf.ready();
}

/** `describe` once per test backend, with that backend active inside. */
export function describeEachBackend(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(() => useBackend(backend));
      body(backend);
    });
  }
}
