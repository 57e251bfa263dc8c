/**
 * Browser tests drive Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it)
 * through playwright-core. Without it they fail in CI and are skipped, with a line saying how to
 * run them, elsewhere. Imported as `@attnkit/test-utils/chromium` (Node-only: not in the index,
 * which packages without Node types import).
 */
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

/** The Chromium binary: CHROMIUM_PATH, else Debian's. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for headless Chromium as root, with no network chatter and WebGPU allowed (SwiftShader without a GPU). */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
];

/**
 * `describe(title, body)` where Chromium is installed. Without it: with `CI` set, one failing
 * test (CI must run every browser test); otherwise a skipped suite whose title, and a line on
 * stderr, say how to run it.
 */
export function describeInChromium(title: string, body: () => void): void {
  if (existsSync(CHROMIUM)) {
    describe(title, body);
    return;
  }
  const notRun =
    `browser test NOT RUN: no Chromium at ${CHROMIUM}. Install Debian's Chromium ('sudo apt-get install chromium') ` +
    "or point CHROMIUM_PATH at a Chromium binary, then run 'pnpm test' again.";
  if (process.env.CI) {
    describe(title, () => {
      it('runs in CI (Chromium is required there)', () => {
        throw new Error(`${notRun} In CI this is a failure: .ci/run installs Chromium with apt before the tests.`);
      });
    });
    return;
  }
  process.stderr.write(`\n${notRun}\n\n`);
  describe.skip(`${title} (${notRun})`, () => {
    it('was not run', () => {});
  });
}
