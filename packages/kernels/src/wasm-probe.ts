/** Feature probe of the WebAssembly engine: whether it runs relaxed SIMD. */

/** A module of one function using f32x4.relaxed_madd: it validates where the engine has relaxed SIMD. */
const RELAXED_PROBE = (() => {
  const zeros = (): number[] => [0xfd, 12, ...new Array<number>(16).fill(0)]; // v128.const 0
  const body = [0, ...zeros(), ...zeros(), ...zeros(), 0xfd, 0x85, 0x02, 0x0b]; // no locals; relaxed_madd; end
  const code = [1, body.length, ...body];
  // magic, version; type section: () -> v128; function section; code section
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, code.length, ...code]);
})();

/** Whether this engine runs relaxed SIMD (Chromium; Node 20 only with --experimental-wasm-relaxed-simd; Node >= 22). */
export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}
