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
    },
  });
}
