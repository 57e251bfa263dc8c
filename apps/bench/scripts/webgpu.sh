#!/usr/bin/env bash
# Fused WebGPU attention (attnkit:fused) against plain tfjs on tfjs's webgpu backend, forward,
# B=1, H=8, d=64, T=2048 (T=... overrides; extra arguments go to `pnpm bench`, e.g. --causal true).
#
# On a GPU machine Dawn (npm `webgpu`) needs the GPU's Vulkan driver and a Vulkan loader
# (Debian/Ubuntu: libvulkan1 plus the vendor's driver, e.g. NVIDIA's libnvidia-gl package);
# `vulkaninfo --summary` should list the GPU. SWIFTSHADER=1 runs on Chromium's SwiftShader
# instead (CPU emulation: proves the command works, its timings are not GPU numbers).
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$root"
if [ "${SWIFTSHADER:-0}" = 1 ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/lib/chromium"
fi
npx --yes pnpm@10.34.8 build >/dev/null
# The bench package's own script, not the root `pnpm bench` through turbo (whose strict env mode
# may keep VK_* variables from the task); each configuration runs in a child process that
# inherits them.
exec npx --yes pnpm@10.34.8 --filter @attnkit/bench bench \
  --impls attnkit:fused,plain-tfjs --backends webgpu --modes forward \
  --B 1 --H 8 --d 64 --T "${T:-2048}" --out out/webgpu-fused "$@"
