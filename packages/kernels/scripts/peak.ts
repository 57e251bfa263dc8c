// Peak f32x4 arithmetic of this machine's WebAssembly engine (AssemblyScript, built by
// scripts/peak.mjs; not part of the package). Independent dependency chains, 12 per loop
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
 * The attention kernel's inner-loop pattern on data in L1 (2 KB from `base`): 8 accumulators,
 * two steps an iteration, each one v128 load and 8 broadcast loads for 8 × (a·b + acc): 128
 * flops an iteration. Multiply then add, or relaxed_madd when `fused` (relaxed build only).
 */
export function blocked(n: i32, base: usize, fused: bool): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  if (ASC_FEATURE_RELAXED_SIMD && fused) {
    for (let i = 0; i < n; i++) {
      const p = base + ((<usize>i & 31) << 6);
      let x = v128.load(p);
      a0 = f32x4.relaxed_madd(x, v128.load32_splat(p), a0);
      a1 = f32x4.relaxed_madd(x, v128.load32_splat(p, 4), a1);
      a2 = f32x4.relaxed_madd(x, v128.load32_splat(p, 8), a2);
      a3 = f32x4.relaxed_madd(x, v128.load32_splat(p, 12), a3);
      a4 = f32x4.relaxed_madd(x, v128.load32_splat(p, 16), a4);
      a5 = f32x4.relaxed_madd(x, v128.load32_splat(p, 20), a5);
      a6 = f32x4.relaxed_madd(x, v128.load32_splat(p, 24), a6);
      a7 = f32x4.relaxed_madd(x, v128.load32_splat(p, 28), a7);
      x = v128.load(p, 32);
      a0 = f32x4.relaxed_madd(x, v128.load32_splat(p, 32), a0);
      a1 = f32x4.relaxed_madd(x, v128.load32_splat(p, 36), a1);
      a2 = f32x4.relaxed_madd(x, v128.load32_splat(p, 40), a2);
      a3 = f32x4.relaxed_madd(x, v128.load32_splat(p, 44), a3);
      a4 = f32x4.relaxed_madd(x, v128.load32_splat(p, 48), a4);
      a5 = f32x4.relaxed_madd(x, v128.load32_splat(p, 52), a5);
      a6 = f32x4.relaxed_madd(x, v128.load32_splat(p, 56), a6);
      a7 = f32x4.relaxed_madd(x, v128.load32_splat(p, 60), a7);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const p = base + ((<usize>i & 31) << 6);
      let x = v128.load(p);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load32_splat(p)));
      a1 = f32x4.add(a1, f32x4.mul(x, v128.load32_splat(p, 4)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load32_splat(p, 8)));
      a3 = f32x4.add(a3, f32x4.mul(x, v128.load32_splat(p, 12)));
      a4 = f32x4.add(a4, f32x4.mul(x, v128.load32_splat(p, 16)));
      a5 = f32x4.add(a5, f32x4.mul(x, v128.load32_splat(p, 20)));
      a6 = f32x4.add(a6, f32x4.mul(x, v128.load32_splat(p, 24)));
      a7 = f32x4.add(a7, f32x4.mul(x, v128.load32_splat(p, 28)));
      x = v128.load(p, 32);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load32_splat(p, 32)));
      a1 = f32x4.add(a1, f32x4.mul(x, v128.load32_splat(p, 36)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load32_splat(p, 40)));
      a3 = f32x4.add(a3, f32x4.mul(x, v128.load32_splat(p, 44)));
      a4 = f32x4.add(a4, f32x4.mul(x, v128.load32_splat(p, 48)));
      a5 = f32x4.add(a5, f32x4.mul(x, v128.load32_splat(p, 52)));
      a6 = f32x4.add(a6, f32x4.mul(x, v128.load32_splat(p, 56)));
      a7 = f32x4.add(a7, f32x4.mul(x, v128.load32_splat(p, 60)));
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
