/**
 * Causal, document-masked, grouped-query attention in the flash-attention style: the forward keeps a
 * running max and sum per query (online softmax) and saves only the log-sum-exp; the backward
 * recomputes each probability as exp(q·k − lse). No [T, T] matrix ever exists in memory.
 *
 * Semantics are those of trainer/model.ts's Attention.forward: query t (row-local i) of head h reads
 * the keys j of its row with docStart[t] ≤ j ≤ i from KV head floor(h / (heads / kvHeads)). q arrives
 * with RoPE and the 1/sqrt(headDim) scale already applied, so scores are plain dot products.
 *
 * Layout: N = rows·length tokens, row-major by token; q, o, dO, dq are [N, heads·headDim]; k, v, dk,
 * dv are [N, kvHeads·headDim]; lse and delta are [N, heads]; docStart and docEnd are i32 [N], row-local.
 * Documents are contiguous, so docStart and docEnd never decrease along a row; the kernels rely on it
 * to find a block's key (or query) range from its first (or last) token.
 *
 * Kernels, all with 64-invocation workgroups and headDim baked into the source (a multiple of 4, at
 * most 128; an invocation holds up to three headDim vectors in registers, so past 64 expect spills):
 * - forward: a workgroup per (head, row, block of 64 queries), an invocation per query holding q and
 *   its running output; tiles of K and V of the block's key range pass through workgroup memory and
 *   are read by every invocation at the same address (a broadcast, no bank conflicts).
 * - delta: delta[t, h] = dO·O, the softmax backward's row term.
 * - dq: the forward's layout; dq_i = Σ_j p_ij (dO_i·v_j − delta_i) k_j.
 * - dk and dv: a workgroup per (query head, row, block of 64 keys), an invocation per key of the
 *   head's KV head, tiles of the head's q and dO. With GQA each query head's share lands in dq (used
 *   as scratch: the dq kernel runs last and overwrites it) and a small kernel sums each group into
 *   dk or dv, so no atomics are needed and the parallelism is that of the query heads, not of the
 *   few KV heads. dk and dv are separate kernels: together an invocation would hold k, v, dk and dv
 *   (4 × headDim floats, 256 at headDim 64, past what a GPU thread keeps in registers); apart they
 *   hold 3 and 2, at the price of computing q·k twice.
 * Each kernel stays within WebGPU's default limits: 64 invocations, 8 KiB of workgroup memory (and
 * a few bytes), at most 8 storage buffers. Workgroups are numbered so the ones with the most work start
 * first, which shortens the causal tail.
 *
 * Covered by test/trainer/webgpu/kernels/attention.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';

export interface AttentionShape {
  rows: number;
  length: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** Invocations per workgroup, and queries (or keys) per block. */
const WG = 64;
/** The largest headDim: invocations keep up to three headDim vectors in registers, and past this they spill wholesale. */
const MAX_HEAD_DIM = 128;

/**
 * Keys (or queries) per workgroup-memory tile: two headDim-wide tiles fill at most 8 KiB, and at most
 * 32 so the forward's per-tile scores stay a small register array.
 */
const tileOf = (headDim: number) => Math.min(32, Math.floor(1024 / headDim));

function check(label: string, s: AttentionShape): void {
  const { rows, length, heads, kvHeads, headDim } = s;
  for (const [name, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${label}: ${name} ${v} is not a positive integer`);
  }
  if (heads % kvHeads !== 0) throw new RangeError(`${label}: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  if (headDim % 4 !== 0 || headDim > MAX_HEAD_DIM) throw new RangeError(`${label}: headDim ${headDim} must be a multiple of 4 and at most ${MAX_HEAD_DIM}`);
  if (rows * length * heads >= 2 ** 32 / headDim) throw new RangeError(`${label}: ${rows}×${length} tokens × ${heads} heads overflow 32-bit indices`);
}

function uniforms(gpu: Gpu, label: string, s: AttentionShape): GPUBuffer {
  return gpu.uniform(params([['u32', s.length], ['u32', s.heads], ['u32', s.kvHeads], ['u32', s.rows]]), `${label} params`);
}

/** Constants and the uniform block every kernel shares; H4 is headDim in vec4s. */
function header(headDim: number): string {
  return /* wgsl */ `
const WG: u32 = ${WG}u;
const H4: u32 = ${headDim / 4}u;
const TILE: u32 = ${tileOf(headDim)}u;
// A score no real one reaches; finite, so max() and differences never make NaN.
const LOW: f32 = -3.0e38;
struct P { length: u32, heads: u32, kvHeads: u32, rows: u32 }
fn hsum(a: vec4f) -> f32 { return (a.x + a.y) + (a.z + a.w); }
`;
}

/**
 * The forward and dq kernels' shared frame: a workgroup per (head = wid.x, row = wid.y, query block),
 * query blocks counted down along wid.z because later queries see more keys. It loads the K and V
 * tiles of the block's key range, [docStart of its first query, its last query], and hands each
 * invocation the part of a tile that is valid for its own query, [a, b].
 */
function queryKernel(headDim: number, bindings: string, init: string, body: string, finish: string): string {
  return /* wgsl */ `${header(headDim)}
${bindings}
var<workgroup> kt: array<vec4f, TILE * H4>;
var<workgroup> vt: array<vec4f, TILE * H4>;
var<workgroup> first: i32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let row = wid.y;
  let g = h / (p.heads / p.kvHeads);
  let i0 = ((p.length + WG - 1u) / WG - 1u - wid.z) * WG;
  let i = i0 + lid;
  let live = i < p.length;
  let rowBase = row * p.length;
  let t = rowBase + min(i, p.length - 1u);
  if (lid == 0u) { first = docStart[rowBase + i0]; }
  let kStart = u32(workgroupUniformLoad(&first));
  let kEnd = min(i0 + WG, p.length);
  let lo = u32(docStart[t]);
  let qh = (t * p.heads + h) * H4;
${init}
  for (var j0 = kStart; j0 < kEnd; j0 += TILE) {
    for (var e = lid; e < TILE * H4; e += WG) {
      let j = j0 + e / H4;
      var kk = vec4f(0.0);
      var vv = vec4f(0.0);
      if (j < kEnd) {
        let src = ((rowBase + j) * p.kvHeads + g) * H4 + e % H4;
        kk = k[src];
        vv = v[src];
      }
      kt[e] = kk;
      vt[e] = vv;
    }
    workgroupBarrier();
    let a = max(lo, j0);
    let b = min(i, j0 + TILE - 1u);
    if (live && a <= b) {
${body}
    }
    workgroupBarrier();
  }
  if (live) {
${finish}
  }
}`;
}

function forwardShader(headDim: number): string {
  return queryKernel(
    headDim,
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read> docStart: array<i32>;
@group(0) @binding(4) var<storage, read_write> o: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<uniform> p: P;`,
    /* wgsl */ `
  var qr: array<vec4f, H4>;
  var acc: array<vec4f, H4>;
  for (var d = 0u; d < H4; d++) {
    qr[d] = q[qh + d];
    acc[d] = vec4f(0.0);
  }
  var m = LOW;
  var l = 0.0;`,
    // A whole tile's scores first, then one rescale of the running output per tile, not per key.
    /* wgsl */ `
      var s: array<f32, TILE>;
      var mt = m;
      for (var jj = 0u; jj < TILE; jj++) {
        var dot4 = vec4f(0.0);
        for (var d = 0u; d < H4; d++) { dot4 += qr[d] * kt[jj * H4 + d]; }
        let j = j0 + jj;
        s[jj] = select(LOW, hsum(dot4), j >= a && j <= b);
        mt = max(mt, s[jj]);
      }
      // m is LOW until a first valid key, and then exp(LOW − mt) = 0 drops the empty start.
      let scale = exp(m - mt);
      l *= scale;
      for (var d = 0u; d < H4; d++) { acc[d] *= scale; }
      for (var jj = 0u; jj < TILE; jj++) {
        let j = j0 + jj;
        let pj = select(0.0, exp(s[jj] - mt), j >= a && j <= b);
        l += pj;
        for (var d = 0u; d < H4; d++) { acc[d] += pj * vt[jj * H4 + d]; }
      }
      m = mt;`,
    /* wgsl */ `
    let inv = 1.0 / l;
    for (var d = 0u; d < H4; d++) { o[qh + d] = acc[d] * inv; }
    lse[t * p.heads + h] = m + log(l);`,
  );
}

function dqShader(headDim: number): string {
  return queryKernel(
    headDim,
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read> docStart: array<i32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dO: array<vec4f>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dq: array<vec4f>;
@group(0) @binding(8) var<uniform> p: P;`,
    /* wgsl */ `
  var qr: array<vec4f, H4>;
  var gr: array<vec4f, H4>;
  var acc: array<vec4f, H4>;
  for (var d = 0u; d < H4; d++) {
    qr[d] = q[qh + d];
    gr[d] = dO[qh + d];
    acc[d] = vec4f(0.0);
  }
  let L = lse[t * p.heads + h];
  let D = delta[t * p.heads + h];`,
    // Masked keys' exp may overflow; select discards it before it meets anything.
    /* wgsl */ `
      for (var jj = 0u; jj < TILE; jj++) {
        var s4 = vec4f(0.0);
        var p4 = vec4f(0.0);
        for (var d = 0u; d < H4; d++) {
          s4 += qr[d] * kt[jj * H4 + d];
          p4 += gr[d] * vt[jj * H4 + d];
        }
        let j = j0 + jj;
        let ds = select(0.0, exp(hsum(s4) - L) * (hsum(p4) - D), j >= a && j <= b);
        for (var d = 0u; d < H4; d++) { acc[d] += ds * kt[jj * H4 + d]; }
      }`,
    /* wgsl */ `
    for (var d = 0u; d < H4; d++) { dq[qh + d] = acc[d]; }`,
  );
}

/**
 * The dk and dv kernels' shared frame: a workgroup per (query head h = wid.x, row = wid.y, block of
 * keys = wid.z, the first blocks having the most queries), an invocation per key of h's KV head. It
 * loads tiles of h's q, dO, lse (and delta) over the block's query range, [its first key, docEnd of
 * its last key], and hands each invocation the part of a tile valid for its own key, [a, b]. Each
 * writes h's share of the gradient as [N, heads, headDim]: with MHA that is dk (or dv) itself, with
 * GQA a partial that reduceShader sums over the group.
 */
function keyKernel(headDim: number, bindings: string, init: string, load: string, body: string): string {
  return /* wgsl */ `${header(headDim)}
${bindings}
var<workgroup> qt: array<vec4f, TILE * H4>;
var<workgroup> gt: array<vec4f, TILE * H4>;
var<workgroup> lt: array<f32, TILE>;
var<workgroup> dt: array<f32, TILE>;
var<workgroup> last: i32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let row = wid.y;
  let g = h / (p.heads / p.kvHeads);
  let j0 = wid.z * WG;
  let j = j0 + lid;
  let live = j < p.length;
  let rowBase = row * p.length;
  let t = rowBase + min(j, p.length - 1u);
  if (lid == 0u) { last = docEnd[rowBase + min(j0 + WG, p.length) - 1u]; }
  let qEnd = u32(workgroupUniformLoad(&last)) + 1u;
  let hi = u32(docEnd[t]);
  let kh = (t * p.kvHeads + g) * H4;
${init}
  for (var i0 = j0; i0 < qEnd; i0 += TILE) {
    for (var e = lid; e < TILE * H4; e += WG) {
      let i = i0 + e / H4;
      var qq = vec4f(0.0);
      var gg = vec4f(0.0);
      if (i < qEnd) {
        let src = ((rowBase + i) * p.heads + h) * H4 + e % H4;
        qq = q[src];
        gg = dO[src];
      }
      qt[e] = qq;
      gt[e] = gg;
    }
    if (lid < TILE) {
      let r = (rowBase + min(i0 + lid, qEnd - 1u)) * p.heads + h;
${load}
    }
    workgroupBarrier();
    let a = max(j, i0);
    let b = min(hi, i0 + TILE - 1u);
    if (live && a <= b) {
${body}
    }
    workgroupBarrier();
  }
  if (live) {
    let oh = (t * p.heads + h) * H4;
    for (var d = 0u; d < H4; d++) { out[oh + d] = acc[d]; }
  }
}`;
}

function dkShader(headDim: number): string {
  return keyKernel(
    headDim,
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> v: array<vec4f>;
@group(0) @binding(3) var<storage, read> docEnd: array<i32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> dO: array<vec4f>;
@group(0) @binding(6) var<storage, read> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(8) var<uniform> p: P;`,
    /* wgsl */ `
  var kr: array<vec4f, H4>;
  var vr: array<vec4f, H4>;
  var acc: array<vec4f, H4>;
  for (var d = 0u; d < H4; d++) {
    kr[d] = k[kh + d];
    vr[d] = v[kh + d];
    acc[d] = vec4f(0.0);
  }`,
    /* wgsl */ `
      lt[lid] = lse[r];
      dt[lid] = delta[r];`,
    /* wgsl */ `
      for (var ii = 0u; ii < TILE; ii++) {
        var s4 = vec4f(0.0);
        var p4 = vec4f(0.0);
        for (var d = 0u; d < H4; d++) {
          s4 += kr[d] * qt[ii * H4 + d];
          p4 += vr[d] * gt[ii * H4 + d];
        }
        let i = i0 + ii;
        let ds = select(0.0, exp(hsum(s4) - lt[ii]) * (hsum(p4) - dt[ii]), i >= a && i <= b);
        for (var d = 0u; d < H4; d++) { acc[d] += ds * qt[ii * H4 + d]; }
      }`,
  );
}

function dvShader(headDim: number): string {
  return keyKernel(
    headDim,
    /* wgsl */ `
@group(0) @binding(0) var<storage, read> q: array<vec4f>;
@group(0) @binding(1) var<storage, read> k: array<vec4f>;
@group(0) @binding(2) var<storage, read> docEnd: array<i32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> dO: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(6) var<uniform> p: P;`,
    /* wgsl */ `
  var kr: array<vec4f, H4>;
  var acc: array<vec4f, H4>;
  for (var d = 0u; d < H4; d++) {
    kr[d] = k[kh + d];
    acc[d] = vec4f(0.0);
  }`,
    /* wgsl */ `
      lt[lid] = lse[r];`,
    /* wgsl */ `
      for (var ii = 0u; ii < TILE; ii++) {
        var s4 = vec4f(0.0);
        for (var d = 0u; d < H4; d++) { s4 += kr[d] * qt[ii * H4 + d]; }
        let i = i0 + ii;
        let pi = select(0.0, exp(hsum(s4) - lt[ii]), i >= a && i <= b);
        for (var d = 0u; d < H4; d++) { acc[d] += pi * gt[ii * H4 + d]; }
      }`,
  );
}

/** Sums [N, heads, headDim] per-query-head partials over each KV head's group into [N, kvHeads, headDim]. */
function reduceShader(headDim: number): string {
  return /* wgsl */ `${header(headDim)}
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4f>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // wid.y is the row, so the grid stays under 65535 per dimension for any batch of rows.
  let e = wid.x * WG + lid;
  let perToken = p.kvHeads * H4;
  if (e >= p.length * perToken) { return; }
  let t = wid.y * p.length + e / perToken;
  let g = (e % perToken) / H4;
  let d = e % H4;
  let rep = p.heads / p.kvHeads;
  var acc = vec4f(0.0);
  for (var r = 0u; r < rep; r++) { acc += src[(t * p.heads + g * rep + r) * H4 + d]; }
  dst[(t * p.kvHeads + g) * H4 + d] = acc;
}`;
}

function deltaShader(headDim: number): string {
  return /* wgsl */ `${header(headDim)}
@group(0) @binding(0) var<storage, read> o: array<vec4f>;
@group(0) @binding(1) var<storage, read> dO: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> delta: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  // wid.y is the row, so the grid stays under 65535 per dimension for any batch of rows.
  let e = wid.x * WG + lid;
  if (e >= p.length * p.heads) { return; }
  let th = wid.y * p.length * p.heads + e;
  var acc = vec4f(0.0);
  for (var d = 0u; d < H4; d++) { acc += o[th * H4 + d] * dO[th * H4 + d]; }
  delta[th] = hsum(acc);
}`;
}

/** o = softmax(q·kᵀ over the valid keys)·v and lse = the log-sum-exp of those scores. */
export function attentionForward(
  gpu: Gpu,
  shape: AttentionShape,
  buf: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; docStart: GPUBuffer; o: GPUBuffer; lse: GPUBuffer },
): Dispatch[] {
  const label = 'attentionForward';
  check(label, shape);
  const u = uniforms(gpu, label, shape);
  const pipeline = gpu.pipeline(label, forwardShader(shape.headDim));
  return [gpu.dispatch(label, pipeline, [buf.q, buf.k, buf.v, buf.docStart, buf.o, buf.lse, u], [shape.heads, shape.rows, groups(shape.length, WG)])];
}

/**
 * dq, dk, dv from dO and the forward's o and lse, overwritten. delta is [N, heads] scratch; with GQA
 * dq also serves as scratch before its final value is written, so it must alias no input. The
 * dispatches must run in the returned order.
 */
export function attentionBackward(
  gpu: Gpu,
  shape: AttentionShape,
  buf: {
    q: GPUBuffer;
    k: GPUBuffer;
    v: GPUBuffer;
    docStart: GPUBuffer;
    docEnd: GPUBuffer;
    o: GPUBuffer;
    lse: GPUBuffer;
    dO: GPUBuffer;
    dq: GPUBuffer;
    dk: GPUBuffer;
    dv: GPUBuffer;
    delta: GPUBuffer;
  },
): Dispatch[] {
  check('attentionBackward', shape);
  const { rows, length, heads, kvHeads, headDim } = shape;
  const u = uniforms(gpu, 'attentionBackward', shape);
  const blocks = groups(length, WG);
  const { q, k, v, docStart, docEnd, o, lse, dO, dq, dk, dv, delta } = buf;
  const d = (label: string, code: string, bindings: GPUBuffer[], grid: [number, number, number]) => gpu.dispatch(label, gpu.pipeline(label, code), [...bindings, u], grid);
  const gqa = heads !== kvHeads;
  // With GQA each query head's share of dk and dv goes to dq, free until the dq kernel writes it
  // last, and is then summed over the group; with MHA the share is the whole gradient.
  const share = (label: string, code: string, inputs: GPUBuffer[], target: GPUBuffer): Dispatch[] => [
    d(label, code, [...inputs, gqa ? dq : target], [heads, rows, blocks]),
    ...(gqa ? [d(`${label}Sum`, reduceShader(headDim), [dq, target], [groups((length * kvHeads * headDim) / 4, WG), rows, 1])] : []),
  ];
  return [
    d('attentionDelta', deltaShader(headDim), [o, dO, delta], [groups(length * heads, WG), rows, 1]),
    ...share('attentionDk', dkShader(headDim), [q, k, v, docEnd, lse, dO, delta], dk),
    ...share('attentionDv', dvShader(headDim), [q, k, docEnd, lse, dO], dv),
    d('attentionDq', dqShader(headDim), [q, k, v, docStart, lse, dO, delta, dq], [heads, rows, blocks]),
  ];
}
