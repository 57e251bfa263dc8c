/**
 * WGSL sources of the WebGPU attention kernels (the `main` functions tfjs-backend-webgpu wraps
 * with its generated header: bindings `result` (output) and one read-only array per variable
 * name, the `uniforms` struct, and the builtins `localIndex`, `workgroupId`, `numWorkgroups`).
 *
 * Sizes reach the shaders as uniforms; only the head-dim bucket DM (a power of two >= 16 that
 * holds Dk and Dv) and the tile height BK are compiled in, so a handful of pipelines serve
 * every shape. One invocation owns one query row (forward, dQ) or one key row (dK, dV); K/V
 * (or Q/dO) tiles of BK rows are staged in workgroup memory, padded with zeros up to DM.
 *
 * Semantics are those of @attnkit/core's reference path: logits (scale·q)·kᵀ + bias; entries
 * outside the causal/window band or the mask, or whose bias is -Infinity, are filled with MASK_FILL = -1e9 and count in the
 * softmax normaliser but carry no weight, so a row with nothing to attend to gives 0. No
 * infinities are used (WGSL may assume there are none): "no value yet" is LOWEST = -3e38.
 */

/** Invocations per workgroup (rows per block) of the backward and helper programs. */
export const WORKGROUP = 64;

/**
 * Forward: invocations sharing one query row (each takes every SPLIT-th key), and the largest
 * workgroup (64 rows; short queries take 16 rows in 64 invocations).
 */
export const SPLIT = 4;
export const FORWARD_WORKGROUP = 256;

/** Uniform fields shared by the attention programs (appended to tfjs's Uniforms struct). */
export const ATTENTION_UNIFORMS = [
  'dims : vec4<i32>,', // B, Hq, Hkv, Tq
  'dims2 : vec4<i32>,', // Tk, Dk, Dv, flags (1: mask, 2: bias)
  'band : vec4<i32>,', // left, right, offset, G = Hq / Hkv
  'maskStrides : vec4<i32>,', // element strides over [B, Hq, Tq, Tk], 0 on broadcast dims
  'biasStrides : vec4<i32>,',
  'extra : vec4<i32>,', // dBias: the bias shape padded to rank 4
  'scale : f32,',
].join(' ');

/** Uniform fields of the copy program. */
export const COPY_UNIFORMS = 'copy : vec4<i32>,'; // n, offset

/** Inputs of the attention programs, in binding order. */
export const FORWARD_INPUTS = ['xq', 'xk', 'xv', 'xmask', 'xbias'];
export const STATS_INPUTS = ['xo', 'xdy', 'xlse'];
export const BACKWARD_INPUTS = ['xq', 'xk', 'xv', 'xmask', 'xbias', 'xdy', 'xstats'];
export const COPY_INPUTS = ['xsrc'];

/**
 * The one vec4 loader, instantiated per input array (WGSL functions cannot take a storage array
 * as a parameter): `name(base, d, n)` reads 4 floats of `array` from `base + d`, zeros from `n`
 * on (padding a head dim up to DM).
 */
function vectorLoader(name: string, array: string): string {
  return /* wgsl */ `
fn ${name}(base : i32, d : i32, n : i32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var e = 0; e < 4; e++) {
    if (d + e < n) { r[e] = ${array}[base + d + e]; }
  }
  return r;
}
`;
}

/** Constants, the uniform workgroup index, band/mask/bias lookups, and padded vec4 loads. */
function common(dm: number, bk: number, wg = WORKGROUP): string {
  return /* wgsl */ `
const WG : i32 = ${wg};
const DM : i32 = ${dm};
const V4 : i32 = ${dm / 4};
const KS : i32 = ${dm / 4 + 1}; // row stride of the K/V tiles in vec4 (padded: rows read together fall in different banks)
const BK : i32 = ${bk};
const FILL : f32 = -1e9;
const LOWEST : f32 = -3.0e38;

var<workgroup> wgIndex : i32;

// The flat workgroup index, uniform across the workgroup (barriers may depend on it).
fn flatWorkgroup() -> i32 {
  if (localIndex == 0u) {
    wgIndex = i32(workgroupId.x + workgroupId.y * numWorkgroups.x + workgroupId.z * numWorkgroups.x * numWorkgroups.y);
  }
  return workgroupUniformLoad(&wgIndex);
}

// Query i (aligned at i + offset) may attend key j: inside the band and the mask, and the bias
// not -Infinity (an excluded key, as in core's reference). The bias is compared by its bits:
// WGSL may assume that no float is infinite.
fn allowed(b : i32, h : i32, i : i32, j : i32) -> bool {
  let p = i + uniforms.band.z;
  if (j < p - uniforms.band.x || j > p + uniforms.band.y) {
    return false;
  }
  if ((uniforms.dims2.w & 2) != 0) {
    let bs = uniforms.biasStrides;
    if (bitcast<u32>(xbias[b * bs.x + h * bs.y + i * bs.z + j * bs.w]) == 0xff800000u) {
      return false;
    }
  }
  if ((uniforms.dims2.w & 1) != 0) {
    let s = uniforms.maskStrides;
    return xmask[b * s.x + h * s.y + i * s.z + j * s.w] != 0;
  }
  return true;
}

fn biasAt(b : i32, h : i32, i : i32, j : i32) -> f32 {
  if ((uniforms.dims2.w & 2) != 0) {
    let s = uniforms.biasStrides;
    return xbias[b * s.x + h * s.y + i * s.z + j * s.w];
  }
  return 0.0;
}

// Whether rows [i0, i1] and keys [j0, j1] lie wholly outside the band (a tile to skip).
fn outsideBand(i0 : i32, i1 : i32, j0 : i32, j1 : i32) -> bool {
  let off = uniforms.band.z;
  return j1 < i0 + off - uniforms.band.x || j0 > i1 + off + uniforms.band.y;
}

${vectorLoader('qVec', 'xq')}
${vectorLoader('kVec', 'xk')}
${vectorLoader('vVec', 'xv')}`;
}

/** Loads of the upstream gradient (backward programs only). */
const dyVec = vectorLoader('dyVec', 'xdy');

/** Stages keys and values [j0, j0 + BK) of kv head bk in kTile/vTile (zeros past Tk and past D). */
const kvTiles = /* wgsl */ `
var<workgroup> kTile : array<vec4<f32>, BK * KS>;
var<workgroup> vTile : array<vec4<f32>, BK * KS>;

fn loadKV(bk : i32, j0 : i32) {
  let Tk = uniforms.dims2.x;
  let Dk = uniforms.dims2.y;
  let Dv = uniforms.dims2.z;
  for (var idx = i32(localIndex); idx < BK * V4; idx += WG) {
    let c = idx / V4;
    let d = idx % V4;
    let j = j0 + c;
    var kx = vec4<f32>(0.0);
    var vx = vec4<f32>(0.0);
    if (j < Tk) {
      kx = kVec((bk * Tk + j) * Dk, 4 * d, Dk);
      vx = vVec((bk * Tk + j) * Dv, 4 * d, Dv);
    }
    kTile[c * KS + d] = kx;
    vTile[c * KS + d] = vx;
  }
}
`;

/**
 * Forward (flash): SPLIT invocations per query row, ROWS rows per workgroup, key tiles of BK
 * staged in workgroup memory. Invocation t of a row takes keys t, t + SPLIT, ... of each tile
 * with its own running max m, normaliser l and output (online softmax); the SPLIT partial
 * results are merged at the end. Writes the output [B, Hq, Tq, Dv] at the start of `result`,
 * then the row logsumexp [B, Hq, Tq].
 */
export function forwardSource(dm: number, bk: number, wg: number): string {
  return /* wgsl */ `${common(dm, bk, wg)}${kvTiles}
const SPLIT : i32 = ${SPLIT};
const ROWS : i32 = ${wg / SPLIT};
const PER : i32 = ${bk / SPLIT}; // keys of a tile per invocation

var<workgroup> mPart : array<f32, WG>;
var<workgroup> lPart : array<f32, WG>;

fn main(index : i32) {
  let B = uniforms.dims.x;
  let Hq = uniforms.dims.y;
  let Hkv = uniforms.dims.z;
  let Tq = uniforms.dims.w;
  let Tk = uniforms.dims2.x;
  let Dk = uniforms.dims2.y;
  let Dv = uniforms.dims2.z;
  let blocks = (Tq + ROWS - 1) / ROWS;
  let flat = flatWorkgroup();
  if (flat >= blocks * B * Hq) {
    return;
  }
  let bh = flat / blocks;
  let i0 = (flat % blocks) * ROWS;
  let i1 = min(i0 + ROWS, Tq) - 1;
  let b = bh / Hq;
  let h = bh % Hq;
  let bk = b * Hkv + h / uniforms.band.w;
  let lane = i32(localIndex);
  let t = lane % SPLIT;
  let i = i0 + lane / SPLIT;
  let live = i < Tq;

  var q : array<vec4<f32>, V4>;
  var acc : array<vec4<f32>, V4>;
  for (var d = 0; d < V4; d++) {
    q[d] = vec4<f32>(0.0);
    if (live) { q[d] = qVec((bh * Tq + i) * Dk, 4 * d, Dk) * uniforms.scale; }
    acc[d] = vec4<f32>(0.0);
  }
  var m = LOWEST;
  var l = 0.0;
  var skipped = 0.0; // keys of skipped tiles (masked for every row of the block), folded in at the end

  for (var j0 = 0; j0 < Tk; j0 += BK) {
    if (outsideBand(i0, i1, j0, min(j0 + BK, Tk) - 1)) {
      skipped += f32(min(BK, Tk - j0));
      continue;
    }
    workgroupBarrier();
    loadKV(bk, j0);
    workgroupBarrier();
    if (live) {
      var s : array<f32, PER>;
      var ok : array<f32, PER>; // 1: attended, 0: masked (weight 0) or past Tk
      var tmax = LOWEST;
      for (var n = 0; n < PER; n++) {
        let c = n * SPLIT + t;
        let j = j0 + c;
        var x = LOWEST;
        ok[n] = 0.0;
        if (j < Tk) {
          x = FILL;
          if (allowed(b, h, i, j)) {
            var a = vec4<f32>(0.0);
            for (var d = 0; d < V4; d++) {
              a = fma(q[d], kTile[c * KS + d], a);
            }
            x = a.x + a.y + a.z + a.w + biasAt(b, h, i, j);
            ok[n] = 1.0;
          }
        }
        s[n] = x;
        tmax = max(tmax, x);
      }
      let mNew = max(m, tmax);
      let alpha = exp(m - mNew);
      l *= alpha;
      for (var d = 0; d < V4; d++) {
        acc[d] *= alpha;
      }
      for (var n = 0; n < PER; n++) {
        let c = n * SPLIT + t;
        let p = exp(s[n] - mNew);
        l += select(0.0, p, j0 + c < Tk);
        let w = vec4<f32>(p * ok[n]);
        for (var d = 0; d < V4; d++) {
          acc[d] = fma(w, vTile[c * KS + d], acc[d]);
        }
      }
      m = mNew;
    }
  }

  // merge the SPLIT partial results of each row: common max, normaliser (with the skipped keys)
  mPart[lane] = m;
  lPart[lane] = l;
  workgroupBarrier();
  let first = lane - t;
  var mf = LOWEST;
  for (var u = 0; u < SPLIT; u++) {
    mf = max(mf, mPart[first + u]);
  }
  if (skipped > 0.0) {
    mf = max(mf, FILL);
  }
  var lt = skipped * exp(FILL - mf);
  for (var u = 0; u < SPLIT; u++) {
    lt += lPart[first + u] * exp(mPart[first + u] - mf);
  }
  let factor = select(0.0, exp(m - mf) / lt, lt > 0.0); // lt = 0 only on padding rows
  let row = bh * Tq + i;
  // the output row is summed in place, one partial after another
  for (var u = 0; u < SPLIT; u++) {
    if (live && t == u) {
      for (var d = 0; d < V4; d++) {
        for (var e = 0; e < 4; e++) {
          if (4 * d + e < Dv) {
            let at = row * Dv + 4 * d + e;
            var prev = 0.0;
            if (u > 0) { prev = result[at]; }
            result[at] = prev + acc[d][e] * factor;
          }
        }
      }
    }
    storageBarrier();
  }
  if (live && t == 0) {
    result[B * Hq * Tq * Dv + row] = mf + log(lt);
  }
}
`;
}

/** Per row of [B·Hq·Tq]: lse copied, then D = rowsum(dO ⊙ O): result = [lse..., D...]. */
export function statsSource(): string {
  return /* wgsl */ `
fn main(index : i32) {
  let rows = uniforms.dims.x * uniforms.dims.y * uniforms.dims.w;
  let Dv = uniforms.dims2.z;
  if (index >= rows) {
    return;
  }
  var s = 0.0;
  for (var e = 0; e < Dv; e++) {
    s = fma(xdy[index * Dv + e], xo[index * Dv + e], s);
  }
  result[index] = xlse[index];
  result[rows + index] = s;
}
`;
}

/** dQ = scale · Σ_j dS_ij k_j, dS = P ⊙ (dO·Vᵀ − D), P = exp(S − lse): one invocation per query row. */
export function dqSource(dm: number, bk: number): string {
  return /* wgsl */ `${common(dm, bk)}${dyVec}${kvTiles}
fn main(index : i32) {
  let B = uniforms.dims.x;
  let Hq = uniforms.dims.y;
  let Hkv = uniforms.dims.z;
  let Tq = uniforms.dims.w;
  let Tk = uniforms.dims2.x;
  let Dk = uniforms.dims2.y;
  let Dv = uniforms.dims2.z;
  let rows = B * Hq * Tq;
  let blocks = (Tq + WG - 1) / WG;
  let flat = flatWorkgroup();
  if (flat >= blocks * B * Hq) {
    return;
  }
  let bh = flat / blocks;
  let i0 = (flat % blocks) * WG;
  let i1 = min(i0 + WG, Tq) - 1;
  let b = bh / Hq;
  let h = bh % Hq;
  let bk = b * Hkv + h / uniforms.band.w;
  let i = i0 + i32(localIndex);
  let live = i < Tq;
  let row = bh * Tq + i;

  var q : array<vec4<f32>, V4>;
  var dy : array<vec4<f32>, V4>;
  var dq : array<vec4<f32>, V4>;
  var lse = 0.0;
  var dsum = 0.0;
  for (var d = 0; d < V4; d++) {
    q[d] = vec4<f32>(0.0);
    dy[d] = vec4<f32>(0.0);
    if (live) {
      q[d] = qVec(row * Dk, 4 * d, Dk) * uniforms.scale;
      dy[d] = dyVec(row * Dv, 4 * d, Dv);
    }
    dq[d] = vec4<f32>(0.0);
  }
  if (live) {
    lse = xstats[row];
    dsum = xstats[rows + row];
  }

  for (var j0 = 0; j0 < Tk; j0 += BK) {
    if (outsideBand(i0, i1, j0, min(j0 + BK, Tk) - 1)) {
      continue;
    }
    workgroupBarrier();
    loadKV(bk, j0);
    workgroupBarrier();
    if (live) {
      for (var c = 0; c < BK; c++) {
        let j = j0 + c;
        if (j < Tk && allowed(b, h, i, j)) {
          var a = vec4<f32>(0.0);
          var g = vec4<f32>(0.0);
          for (var d = 0; d < V4; d++) {
            a = fma(q[d], kTile[c * KS + d], a);
            g = fma(dy[d], vTile[c * KS + d], g);
          }
          let p = exp(a.x + a.y + a.z + a.w + biasAt(b, h, i, j) - lse);
          let ds = vec4<f32>(p * (g.x + g.y + g.z + g.w - dsum));
          for (var d = 0; d < V4; d++) {
            dq[d] = fma(ds, kTile[c * KS + d], dq[d]);
          }
        }
      }
    }
  }

  if (live) {
    for (var d = 0; d < V4; d++) {
      for (var e = 0; e < 4; e++) {
        if (4 * d + e < Dk) { result[row * Dk + 4 * d + e] = dq[d][e] * uniforms.scale; }
      }
    }
  }
}
`;
}

/**
 * dK = Σ dSᵀ·(scale·Q) and dV = Σ Pᵀ·dO over the query heads of each kv head's group: one
 * invocation per key row, query tiles staged in workgroup memory. Writes dK [B, Hkv, Tk, Dk]
 * at the start of `result`, then dV [B, Hkv, Tk, Dv].
 */
export function dkvSource(dm: number, bk: number): string {
  return /* wgsl */ `${common(dm, bk)}${dyVec}
var<workgroup> qTile : array<vec4<f32>, BK * V4>;
var<workgroup> oTile : array<vec4<f32>, BK * V4>;
var<workgroup> lseTile : array<f32, BK>;
var<workgroup> dTile : array<f32, BK>;

fn main(index : i32) {
  let B = uniforms.dims.x;
  let Hq = uniforms.dims.y;
  let Hkv = uniforms.dims.z;
  let Tq = uniforms.dims.w;
  let Tk = uniforms.dims2.x;
  let Dk = uniforms.dims2.y;
  let Dv = uniforms.dims2.z;
  let G = uniforms.band.w;
  let rows = B * Hq * Tq;
  let blocks = (Tk + WG - 1) / WG;
  let flat = flatWorkgroup();
  if (flat >= blocks * B * Hkv) {
    return;
  }
  let bk = flat / blocks;
  let ja = (flat % blocks) * WG;
  let jb = min(ja + WG, Tk) - 1;
  let b = bk / Hkv;
  let kh = bk % Hkv;
  let j = ja + i32(localIndex);
  let live = j < Tk;

  var kj : array<vec4<f32>, V4>;
  var vj : array<vec4<f32>, V4>;
  var dk : array<vec4<f32>, V4>;
  var dv : array<vec4<f32>, V4>;
  for (var d = 0; d < V4; d++) {
    kj[d] = vec4<f32>(0.0);
    vj[d] = vec4<f32>(0.0);
    if (live) {
      kj[d] = kVec((bk * Tk + j) * Dk, 4 * d, Dk);
      vj[d] = vVec((bk * Tk + j) * Dv, 4 * d, Dv);
    }
    dk[d] = vec4<f32>(0.0);
    dv[d] = vec4<f32>(0.0);
  }

  for (var g = 0; g < G; g++) {
    let h = kh * G + g;
    let bh = b * Hq + h;
    for (var i0 = 0; i0 < Tq; i0 += BK) {
      if (outsideBand(i0, min(i0 + BK, Tq) - 1, ja, jb)) {
        continue;
      }
      workgroupBarrier();
      for (var idx = i32(localIndex); idx < BK * V4; idx += WG) {
        let i = i0 + idx / V4;
        let d = 4 * (idx % V4);
        var qx = vec4<f32>(0.0);
        var ox = vec4<f32>(0.0);
        if (i < Tq) {
          qx = qVec((bh * Tq + i) * Dk, d, Dk) * uniforms.scale;
          ox = dyVec((bh * Tq + i) * Dv, d, Dv);
        }
        qTile[idx] = qx;
        oTile[idx] = ox;
      }
      for (var r = i32(localIndex); r < BK; r += WG) {
        let i = min(i0 + r, Tq - 1);
        lseTile[r] = xstats[bh * Tq + i];
        dTile[r] = xstats[rows + bh * Tq + i];
      }
      workgroupBarrier();
      if (live) {
        for (var r = 0; r < BK; r++) {
          let i = i0 + r;
          if (i < Tq && allowed(b, h, i, j)) {
            var a = vec4<f32>(0.0);
            var gd = vec4<f32>(0.0);
            for (var d = 0; d < V4; d++) {
              a = fma(qTile[r * V4 + d], kj[d], a);
              gd = fma(oTile[r * V4 + d], vj[d], gd);
            }
            let p = exp(a.x + a.y + a.z + a.w + biasAt(b, h, i, j) - lseTile[r]);
            let ds = vec4<f32>(p * (gd.x + gd.y + gd.z + gd.w - dTile[r]));
            let pv = vec4<f32>(p);
            for (var d = 0; d < V4; d++) {
              dv[d] = fma(pv, oTile[r * V4 + d], dv[d]);
              dk[d] = fma(ds, qTile[r * V4 + d], dk[d]);
            }
          }
        }
      }
    }
  }

  if (live) {
    let kRow = bk * Tk + j;
    for (var d = 0; d < V4; d++) {
      for (var e = 0; e < 4; e++) {
        if (4 * d + e < Dk) { result[kRow * Dk + 4 * d + e] = dk[d][e]; }
        if (4 * d + e < Dv) { result[B * Hkv * Tk * Dk + kRow * Dv + 4 * d + e] = dv[d][e]; }
      }
    }
  }
}
`;
}

/**
 * dBias in the bias's own shape: one invocation per bias element sums dS over the dims the bias
 * is broadcast along, recomputing each dS entry from lse and D (O(Dk + Dv) per entry).
 */
export function dbiasSource(): string {
  return /* wgsl */ `${common(16, 1)}${dyVec}
fn main(index : i32) {
  let B = uniforms.dims.x;
  let Hq = uniforms.dims.y;
  let Hkv = uniforms.dims.z;
  let Tq = uniforms.dims.w;
  let Tk = uniforms.dims2.x;
  let Dk = uniforms.dims2.y;
  let Dv = uniforms.dims2.z;
  let G = uniforms.band.w;
  let rows = B * Hq * Tq;
  let shape = uniforms.extra;
  if (index >= shape.x * shape.y * shape.z * shape.w) {
    return;
  }
  // coordinates of this bias element; a dim of size 1 sums over the full dim
  let c3 = index % shape.w;
  let c2 = (index / shape.w) % shape.z;
  let c1 = (index / (shape.w * shape.z)) % shape.y;
  let c0 = index / (shape.w * shape.z * shape.y);
  let full = vec4<i32>(B, Hq, Tq, Tk);
  let summed = (shape == vec4<i32>(1)) & (full != vec4<i32>(1));
  let lo = select(vec4<i32>(c0, c1, c2, c3), vec4<i32>(0), summed);
  let hi = select(lo + vec4<i32>(1), full, summed);
  var total = 0.0;
  for (var b = lo.x; b < hi.x; b++) {
    for (var h = lo.y; h < hi.y; h++) {
      let bh = b * Hq + h;
      let bk = b * Hkv + h / G;
      for (var i = lo.z; i < hi.z; i++) {
        let row = bh * Tq + i;
        for (var j = lo.w; j < hi.w; j++) {
          if (allowed(b, h, i, j)) {
            var s = 0.0;
            for (var d = 0; d < Dk; d++) {
              s = fma(xq[row * Dk + d] * uniforms.scale, xk[(bk * Tk + j) * Dk + d], s);
            }
            var g = 0.0;
            for (var e = 0; e < Dv; e++) {
              g = fma(xdy[row * Dv + e], xv[(bk * Tk + j) * Dv + e], g);
            }
            let p = exp(s + biasAt(b, h, i, j) - xstats[row]);
            total += p * (g - xstats[rows + row]);
          }
        }
      }
    }
  }
  result[index] = total;
}
`;
}

/** result[k] = src[offset + k] for k < n: splits a packed result into its tensors. */
export function copySource(): string {
  return /* wgsl */ `
fn main(index : i32) {
  if (index < uniforms.copy.x) {
    result[index] = xsrc[uniforms.copy.y + index];
  }
}
`;
}
