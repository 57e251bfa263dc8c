import { mergeConfig } from 'vitest/config';
import { attnkitVitestConfig } from '../../vitest.shared.mjs';

// web/src holds the page's end-to-end test (Chromium through playwright-core).
export default mergeConfig(attnkitVitestConfig(), { test: { include: ['web/src/**/*.test.ts'] } });
