/** What the raw JSON records about the machine and the versions that ran. */
import { readFileSync } from 'node:fs';
import { cpus, platform, arch, totalmem } from 'node:os';
import type { MachineInfo } from './types.js';

const PACKAGES = [
  '@attnkit/core',
  '@tensorflow/tfjs-core',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgpu',
  'onnxruntime-node',
  'onnxruntime-web',
  'ruvector-attention-wasm',
  'webgpu',
  'vega',
  'vega-lite',
];

function versionOf(pkg: string): string {
  try {
    const url = new URL(`../node_modules/${pkg}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** `nodeFlags`: the flags the children ran with (recorded beside the Node version). */
export function machineInfo(nodeFlags: readonly string[] = []): MachineInfo {
  const list = cpus();
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    totalMemoryBytes: totalmem(),
    platform: platform(),
    arch: arch(),
    node: process.versions.node,
    nodeFlags: [...nodeFlags],
    versions: Object.fromEntries(PACKAGES.map((p) => [p, versionOf(p)])),
  };
}
