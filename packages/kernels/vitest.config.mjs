import { existsSync } from 'node:fs';
import { attnkitVitestConfig } from '../../vitest.shared.mjs';

// The WebGPU tests run on Dawn (npm `webgpu`) over SwiftShader, the Vulkan driver on the CPU that
// Debian's chromium package ships beside a Vulkan loader. Set here, before vitest forks its
// workers: the dynamic loader reads LD_LIBRARY_PATH when a process starts. A VK_ICD_FILENAMES
// set by hand (a real GPU's driver) is kept.
const chromium = '/usr/lib/chromium';
if (!process.env.VK_ICD_FILENAMES && existsSync(`${chromium}/vk_swiftshader_icd.json`)) {
  process.env.VK_ICD_FILENAMES = `${chromium}/vk_swiftshader_icd.json`;
}
if (existsSync(`${chromium}/libvulkan.so.1`)) {
  process.env.LD_LIBRARY_PATH = [process.env.LD_LIBRARY_PATH, chromium].filter(Boolean).join(':');
}

// src/: the kernels in Node; web/src/browser.test.ts: the wasm kernel in Chromium.
const config = attnkitVitestConfig();
config.test.include = ['src/**/*.test.ts', 'web/src/**/*.test.ts'];
export default config;
