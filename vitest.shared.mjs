// Shared vitest settings for every workspace package: `export default attnkitVitestConfig()`.
import { defineConfig } from 'vitest/config';

export function attnkitVitestConfig() {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts'],
      pool: 'forks',
      // tfjs backends are process-global; one file per fork keeps them isolated.
      isolate: true,
      // Generous: turbo runs every package's tests at once, and CI has 2 cores. The table tests
      // (hundreds of seeded configurations) take 10-30 s alone and up to ~70 s with the rest
      // running beside them; 180 s still catches a hang.
      testTimeout: 180_000,
      hookTimeout: 180_000,
      // tfjs greets every Node process with advice to install tfjs-node; keep test logs readable.
      onConsoleLog: (log) => !log.includes('looks like you are running TensorFlow.js in Node.js'),
    },
  });
}
