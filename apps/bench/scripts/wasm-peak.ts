// Peak f32x4 arithmetic of this machine's WebAssembly engine (AssemblyScript, built by
// wasm-peak.mjs). Independent dependency chains, 12 per loop
// (enough to hide the 4-cycle latencies on 3 ports), 14 live v128 values (V8 allocates 16 xmm
// registers), no memory operands: the loops are bound by the SIMD ports alone.

// @ts-nocheck (AssemblyScript)


/** n iterations of 6 f32x4.mul chains (a·c) and 6 f32x4.add chains (a + d): 48 flops each; returns a lane sum (keeps the work alive). */
export function mulAdd(n: i32, cs: f32, ds: f32): f32 {
  const c = f32x4.splat(cs);
  const d = f32x4.splat(ds);
  let a0 = f32x4.splat(0.1), a1 = f32x4.splat(0.2), a2 = f32x4.splat(0.3), a3 = f32x4.splat(0.4);
  let a4 = f32x4.splat(0.5), a5 = f32x4.splat(0.6), a6 = f32x4.splat(0.7), a7 = f32x4.splat(0.8);
  let a8 = f32x4.splat(0.9), a9 = f32x4.splat(1.0), a10 = f32x4.splat(1.1), a11 = f32x4.splat(1.2);
  for (let i = 0; i < n; i++) {
    a0 = f32x4.mul(a0, c);
    a1 = f32x4.add(a1, d);
    a2 = f32x4.mul(a2, c);
    a3 = f32x4.add(a3, d);
    a4 = f32x4.mul(a4, c);
    a5 = f32x4.add(a5, d);
    a6 = f32x4.mul(a6, c);
    a7 = f32x4.add(a7, d);
    a8 = f32x4.mul(a8, c);
    a9 = f32x4.add(a9, d);
    a10 = f32x4.mul(a10, c);
    a11 = f32x4.add(a11, d);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  const t = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
}

/** 12 chains a·c + d by f32x4.relaxed_madd (a fused multiply-add where the engine has one): 96 flops an iteration. */
export function madd(n: i32, cs: f32, ds: f32): f32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const c = f32x4.splat(cs);
  const d = f32x4.splat(ds);
  let a0 = f32x4.splat(0.1), a1 = f32x4.splat(0.2), a2 = f32x4.splat(0.3), a3 = f32x4.splat(0.4);
  let a4 = f32x4.splat(0.5), a5 = f32x4.splat(0.6), a6 = f32x4.splat(0.7), a7 = f32x4.splat(0.8);
  let a8 = f32x4.splat(0.9), a9 = f32x4.splat(1.0), a10 = f32x4.splat(1.1), a11 = f32x4.splat(1.2);
  for (let i = 0; i < n; i++) {
    a0 = f32x4.relaxed_madd(a0, c, d);
    a1 = f32x4.relaxed_madd(a1, c, d);
    a2 = f32x4.relaxed_madd(a2, c, d);
    a3 = f32x4.relaxed_madd(a3, c, d);
    a4 = f32x4.relaxed_madd(a4, c, d);
    a5 = f32x4.relaxed_madd(a5, c, d);
    a6 = f32x4.relaxed_madd(a6, c, d);
    a7 = f32x4.relaxed_madd(a7, c, d);
    a8 = f32x4.relaxed_madd(a8, c, d);
    a9 = f32x4.relaxed_madd(a9, c, d);
    a10 = f32x4.relaxed_madd(a10, c, d);
    a11 = f32x4.relaxed_madd(a11, c, d);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  const t = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
}

/**
 * The attention kernel's micro-kernel pattern on data in L1 (from `base`): 8 accumulators (4
 * rows × 8 keys), two steps an iteration, each two v128 loads and 4 broadcast loads at
 * constant offsets for 8 × (a·b + acc): 128 flops an iteration. Multiply then add, or
 * relaxed_madd when `fused` (relaxed build only).
 */
@inline function fma(a: v128, b: v128, c: v128, fused: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD && fused) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function blockedLoop(n: i32, base: usize, fused: bool): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const x = base + ((<usize>i & 31) << 5); // 4 rows' values, 2 steps: 32 bytes
    const k = base + 1024 + ((<usize>i & 31) << 6); // 8 keys, 2 steps: 64 bytes
    let k0 = v128.load(k);
    let k1 = v128.load(k, 16);
    let xv = v128.load32_splat(x);
    a0 = fma(xv, k0, a0, fused);
    a1 = fma(xv, k1, a1, fused);
    xv = v128.load32_splat(x, 4);
    a2 = fma(xv, k0, a2, fused);
    a3 = fma(xv, k1, a3, fused);
    xv = v128.load32_splat(x, 8);
    a4 = fma(xv, k0, a4, fused);
    a5 = fma(xv, k1, a5, fused);
    xv = v128.load32_splat(x, 12);
    a6 = fma(xv, k0, a6, fused);
    a7 = fma(xv, k1, a7, fused);
    k0 = v128.load(k, 32);
    k1 = v128.load(k, 48);
    xv = v128.load32_splat(x, 16);
    a0 = fma(xv, k0, a0, fused);
    a1 = fma(xv, k1, a1, fused);
    xv = v128.load32_splat(x, 20);
    a2 = fma(xv, k0, a2, fused);
    a3 = fma(xv, k1, a3, fused);
    xv = v128.load32_splat(x, 24);
    a4 = fma(xv, k0, a4, fused);
    a5 = fma(xv, k1, a5, fused);
    xv = v128.load32_splat(x, 28);
    a6 = fma(xv, k0, a6, fused);
    a7 = fma(xv, k1, a7, fused);
  }
  return f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
}

export function blocked(n: i32, base: usize, fused: bool): f32 {
  const s = fused ? blockedLoop(n, base, true) : blockedLoop(n, base, false);
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
