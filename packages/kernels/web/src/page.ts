/**
 * The page of the browser test (browser.test.ts): the fused kernel on the page's main thread,
 * which may not block, so a call runs on it alone (`kernels`), and in a Web Worker on 2 threads
 * (`inWorker`). The test passes inputs in and checks what comes back in Node.
 */
import { type Inputs, type Kernels, type Outputs, type Ready, type Spec, run, start, time } from './calls.js';

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
let next = 0;
worker.onmessage = (event: MessageEvent<{ id: number; result?: unknown; error?: string }>) => {
  const { id, result, error } = event.data;
  const call = pending.get(id)!;
  pending.delete(id);
  if (error === undefined) call.resolve(result);
  else call.reject(new Error(error));
};
function inWorker<T>(op: 'start' | 'run' | 'time', ...args: unknown[]): Promise<T> {
  const id = next++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    worker.postMessage({ id, op, args });
  });
}

/** `run` and `time` wait for `ready`, so a test may call them first. */
function afterReady(ready: Promise<Ready>, run: Kernels['run'], time: Kernels['time']): Kernels {
  return {
    ready,
    run: (spec, x) => ready.then(() => run(spec, x)),
    time: (spec, repeats) => ready.then(() => time(spec, repeats)),
  };
}

const kernels = afterReady(start(), run, time);
const workerKernels = afterReady(
  inWorker<Ready>('start', 2),
  (spec: Spec, x: Inputs) => inWorker<Outputs>('run', spec, x),
  (spec: Spec, repeats: number) => inWorker<number>('time', spec, repeats),
);
Object.assign(window, { kernels, inWorker: workerKernels });
