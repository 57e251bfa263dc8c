import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/**
 * Runs `fn` and asserts that it leaves no new tensor behind. Whatever `fn` returns is
 * disposed first (it is the caller's to own), so only tensors leaked inside `fn` count.
 */
export async function expectNoLeak(fn: () => unknown): Promise<void> {
  const before = tf.memory().numTensors;
  const result = await fn();
  tf.dispose(result as tf.TensorContainer);
  expect(tf.memory().numTensors - before, 'tensors leaked').toBe(0);
}

/**
 * Asserts that `fn` throws an error whose message matches `message`, and that the failed
 * call leaked no tensor.
 */
export function expectThrowsWithoutLeak(fn: () => unknown, message: RegExp | string): Error {
  const before = tf.memory().numTensors;
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected the call to throw').toBeInstanceOf(Error);
  const err = caught as Error;
  if (typeof message === 'string') expect(err.message).toContain(message);
  else expect(err.message).toMatch(message);
  expect(tf.memory().numTensors - before, 'tensors leaked by the failed call').toBe(0);
  return err;
}
