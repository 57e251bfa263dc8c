// Shared vitest settings for every workspace package: `export default attnkitVitestConfig()`.
import { defineConfig } from 'vitest/config';

export function attnkitVitestConfig() {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts'],
      pool: 'forks',
      // tfjs backends are process-global; one file per fork keeps them isolated.
      isolate: true,
      testTimeout: 60_000,
      hookTimeout: 60_000,
      // tfjs greets every Node process with advice to install tfjs-node; keep test logs readable.
      onConsoleLog: (log) => !log.includes('looks like you are running TensorFlow.js in Node.js'),
    },
  });
}
