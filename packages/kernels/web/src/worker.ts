/**
 * The browser test's Web Worker: the same calls as the page's main thread (calls.ts), but here
 * the thread may block, so the kernel runs on 2 threads (this one and a helper Web Worker).
 * Messages: { id, op: 'start' | 'run' | 'time', args } in, { id, result } or { id, error } out.
 */
import { run, start, time } from './calls.js';

const ops = { start, run, time } as Record<string, (...args: never[]) => Promise<unknown>>;

self.onmessage = async (event: MessageEvent<{ id: number; op: string; args: never[] }>) => {
  const { id, op, args } = event.data;
  try {
    self.postMessage({ id, result: await ops[op]!(...args) });
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) });
  }
};
