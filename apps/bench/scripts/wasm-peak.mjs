// Peak f32x4 GFLOP/s of this machine's WebAssembly engine, on 1 and on N threads at once:
// `node apps/bench/scripts/wasm-peak.mjs [threads]` (plain SIMD: f32x4.mul + f32x4.add), and
// `node --experimental-wasm-relaxed-simd apps/bench/scripts/wasm-peak.mjs` on Node 20 (adds f32x4.relaxed_madd).
// Two loops each: independent dependency chains (arithmetic only), and the attention
// kernel's inner-loop pattern (one vector load and 8 broadcast loads per 8 multiply-adds, data
// in L1). Not part of the package: it tells how far the kernel is from what the engine issues.
// Best of several runs: the fastest is the one least disturbed by other processes.
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const ITERS = 20_000_000;
// the module imports a shared memory (asc flags in compile())
const IMPORTS = {
  env: {
    memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }),
    abort() {
      throw new Error('abort');
    },
  },
};

/** [label, export, arguments after the iteration count, flops per iteration, relaxed build] */
const LOOPS = [
  ['f32x4.mul + f32x4.add, 12 independent chains', 'mulAdd', [1, 0.001], 48, false],
  ['f32x4.mul + f32x4.add, kernel pattern (loads)', 'blocked', [1024, 0], 128, false],
  ['f32x4.relaxed_madd, 12 independent chains', 'madd', [0.999, 0.001], 96, true],
  ['f32x4.relaxed_madd, kernel pattern (loads)', 'blocked', [1024, 1], 128, true],
];

async function compile(relaxed) {
  const asc = (await import('assemblyscript/asc')).default;
  const source = fileURLToPath(new URL('./wasm-peak.ts', import.meta.url));
  let binary = null;
  const { error, stderr } = await asc.main(
    [
      source,
      '-O3',
      '--noAssert',
      '--runtime',
      'stub',
      '--enable',
      relaxed ? 'simd,relaxed-simd,threads' : 'simd,threads',
      '--outFile',
      'peak.wasm',
      '--importMemory',
      '--sharedMemory',
      '--initialMemory',
      '1',
      '--maximumMemory',
      '65536',
    ],
    {
      writeFile: (name, contents) => {
        if (name.endsWith('.wasm')) binary = contents;
      },
    },
  );
  if (error) throw new Error(`asc: ${error.message}\n${stderr.toString()}`);
  return binary;
}

/** ms of one timed run of `fn` (after a warm-up that tiers it up to TurboFan). */
function time(exports, fn, args) {
  exports[fn](1_000_000, ...args);
  const t0 = performance.now();
  exports[fn](ITERS, ...args);
  return performance.now() - t0;
}

if (!isMainThread) {
  const { binary, fn, args, flag } = workerData;
  const { exports } = (await WebAssembly.instantiate(binary, IMPORTS)).instance;
  exports[fn](1_000_000, ...args);
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
  Atomics.wait(flag, 1, 0); // start together
  parentPort.postMessage(time(exports, fn, args));
} else {
  const threads = Number(process.argv[2] ?? availableParallelism());
  const binaries = { false: await compile(false), true: await compile(true) };
  const relaxedOk = WebAssembly.validate(binaries.true);
  if (!relaxedOk) console.log('relaxed SIMD: not supported here (Node 20: --experimental-wasm-relaxed-simd)');
  for (const [label, fn, args, flops, relaxed] of LOOPS) {
    if (relaxed && !relaxedOk) continue;
    const binary = binaries[relaxed];
    const { exports } = (await WebAssembly.instantiate(binary, IMPORTS)).instance;
    const one = Math.min(...[0, 1, 2, 3, 4].map(() => time(exports, fn, args)));
    let slowest = Infinity;
    for (let round = 0; round < 3; round++) {
      const flag = new Int32Array(new SharedArrayBuffer(8));
      const workers = Array.from({ length: threads }, () => new Worker(fileURLToPath(import.meta.url), { workerData: { binary, fn, args, flag } }));
      const results = workers.map((w) => new Promise((resolve) => w.once('message', resolve)));
      while (Atomics.load(flag, 0) < threads) await new Promise((r) => setTimeout(r, 5));
      Atomics.store(flag, 1, 1);
      Atomics.notify(flag, 1);
      const times = await Promise.all(results);
      await Promise.all(workers.map((w) => w.terminate()));
      slowest = Math.min(slowest, Math.max(...times));
    }
    const gflops1 = (ITERS * flops) / one / 1e6;
    const gflopsN = (threads * ITERS * flops) / slowest / 1e6;
    console.log(`${label}: 1 thread ${gflops1.toFixed(1)} GFLOP/s; ${threads} threads ${gflopsN.toFixed(1)} GFLOP/s`);
  }
}
