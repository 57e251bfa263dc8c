/**
 * The helper threads of the wasm module: Node worker_threads or browser Web Workers, each
 * instantiating the module on the shared memory and running work items of a call when its
 * control words say so.
 */
import { CONTROL_WORDS } from './wasm-layout.js';

/** What a helper thread is given: the compiled module, the shared memory, and where its control words are. */
export interface HelperData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: number;
  index: number;
}

/**
 * Starts one helper thread on `data`: `ready` resolves once the thread has instantiated the
 * module and waits for calls, and rejects if it cannot start; `stop` ends the thread.
 */
export type StartHelper = (data: HelperData) => { ready: Promise<void>; stop(): void };

/**
 * Loads of a control word a thread spins through (about 0.1 ms) before it sleeps in
 * Atomics.wait: the calls of a training step come tens of microseconds apart, and waking a
 * sleeping thread costs about as much, each way.
 */
export const SPIN_LOADS = 100_000;

/**
 * The helper thread's loop, the same in Node and in a browser: `serve(data, ready)` instantiates
 * the module on the shared memory, calls `ready`, then runs calls on request forever, spinning
 * briefly for the next before it sleeps.
 */
const HELPER_LOOP = `
function serve({ module, memory, control, index }, ready) {
  const instance = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); } } });
  const ctl = new Int32Array(memory.buffer, control + index * ${CONTROL_WORDS * 4}, ${CONTROL_WORDS});
  ready();
  let seen = 0;
  for (;;) {
    for (let i = 0; i < ${SPIN_LOADS} && Atomics.load(ctl, 0) === seen; i++);
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    try {
      if (ctl[1] === 1) instance.exports.forward(ctl[2]);
      else if (ctl[1] === 3) instance.exports.matmul(ctl[2]);
      else instance.exports.backward(ctl[2]);
      ctl[4] = 0;
    } catch (e) {
      ctl[4] = 1;
    }
    Atomics.store(ctl, 3, seen);
    Atomics.notify(ctl, 3);
  }
}
`;

/** A Node worker_threads helper (eval'd source, data in workerData). */
const NODE_HELPER = `${HELPER_LOOP}
const { workerData, parentPort } = require('node:worker_threads');
serve(workerData, () => parentPort.postMessage('ready'));
`;

/** A browser Web Worker helper (a blob URL; data in its first message). */
const BROWSER_HELPER = `${HELPER_LOOP}
self.onmessage = (event) => serve(event.data, () => self.postMessage('ready'));
`;

/** Time a helper thread may take to start before the module runs without helpers. */
export const HELPER_START_MS = 10_000;

/** Rejects after `ms` with `what` unless `promise` settles first. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface Helper {
  control: Int32Array;
}

/** Node's worker_threads Worker, as far as it is used here. */
interface NodeWorker {
  once(event: 'message' | 'error', listener: (value: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}
export type NodeWorkerConstructor = new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;

/** Helper threads as Node worker_threads. */
export function nodeHelpers(Worker: NodeWorkerConstructor): StartHelper {
  return (data) => {
    const worker = new Worker(NODE_HELPER, { eval: true, workerData: data });
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', () => {
        worker.unref();
        resolve();
      });
    });
    return { ready, stop: () => void worker.terminate() };
  };
}

/** Helper threads as Web Workers (from a blob URL), where this thread may create them. */
export function browserHelpers(): StartHelper {
  return (data) => {
    const url = URL.createObjectURL(new Blob([BROWSER_HELPER], { type: 'text/javascript' }));
    const worker = new Worker(url);
    const ready = new Promise<void>((resolve, reject) => {
      worker.onerror = (event) => {
        event.preventDefault(); // handled here (the module runs without helpers): not the page's error
        reject(new Error(`@attnkit/kernels: a helper Web Worker failed: ${event.message}`));
      };
      worker.onmessage = () => resolve();
    }).finally(() => URL.revokeObjectURL(url));
    worker.postMessage(data);
    return { ready, stop: () => worker.terminate() };
  };
}

/** Whether this thread may block in Atomics.wait (Node's main thread and workers may; a browser's main thread may not). */
export function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}
