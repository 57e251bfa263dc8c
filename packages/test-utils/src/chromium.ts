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
 * The one policy of the tests that need something outside npm (a browser, a GPU driver):
 * `describe(title, body)` where it is `available`. Without it: with `CI` set, one failing test
 * (CI must run every test); otherwise a skipped suite whose title, and a line on stderr, say
 * `notRun` (what is missing and how to get it).
 */
export function describeWhen(available: boolean, notRun: string, title: string, body: () => void): void {
  if (available) {
    describe(title, body);
    return;
  }
  if (process.env.CI) {
    describe(title, () => {
      it('runs in CI (what it needs is required there)', () => {
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

/** `describe(title, body)` where Chromium is installed; else {@link describeWhen}'s policy. */
export function describeInChromium(title: string, body: () => void): void {
  const notRun =
    `browser test NOT RUN: no Chromium at ${CHROMIUM}. Install Debian's Chromium ('sudo apt-get install chromium') ` +
    "or point CHROMIUM_PATH at a Chromium binary, then run 'pnpm test' again.";
  describeWhen(existsSync(CHROMIUM), notRun, title, body);
}

/**
 * The Vulkan drivers Dawn (npm `webgpu`) may use in Node: VK_ICD_FILENAMES, else SwiftShader
 * (a Vulkan driver on the CPU) from Debian's chromium package.
 */
export const VULKAN_ICDS = (process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json').split(':').filter(Boolean);

/** `describe(title, body)` where Dawn has a Vulkan driver to run WebGPU on; else {@link describeWhen}'s policy. */
export function describeWithWebGPU(title: string, body: () => void): void {
  const notRun =
    `WebGPU test NOT RUN: no Vulkan driver at ${VULKAN_ICDS.join(', ')}. Install Debian's Chromium ('sudo apt-get install chromium': ` +
    "its SwiftShader driver serves) or set VK_ICD_FILENAMES to a GPU's driver, then run 'pnpm test' again.";
  describeWhen(
    VULKAN_ICDS.some((icd) => existsSync(icd)),
    notRun,
    title,
    body,
  );
}
