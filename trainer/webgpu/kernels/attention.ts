/**
 * Causal, document-masked, grouped-query attention in the flash-attention style: the forward keeps a
 * running max and sum per query (online softmax) and saves only the log-sum-exp; the backward
 * recomputes each probability as exp(q·k − lse), once, in the FlashAttention-2 form. No [T, T]
 * matrix of scores or probabilities ever exists in memory.
 *
 * Semantics are those of trainer/model.ts's Attention.forward: query t (row-local i) of head h reads
 * the keys j of its row with docStart[t] ≤ j ≤ i from KV head floor(h / rep), rep = heads / kvHeads.
 * q arrives with RoPE and the 1/sqrt(headDim) scale already applied, so scores are plain dot products.
 *
 * Layout: N = rows·length tokens, row-major by token; q, o, dO, dq are [N, heads·headDim]; k, v, dk,
 * dv are [N, kvHeads·headDim]; lse is [N, heads]; docStart and docEnd are i32 [N], row-local.
 * Documents are contiguous, so docStart and docEnd never decrease along a row; the kernels rely on it
 * to find a block's key (or query) range from its first (or last) token.
 *
 * Forward: a workgroup of 64 invocations per (head, row, block of 64 queries), an invocation per
 * query holding q and its running output; tiles of K and V over the block's key range pass through
 * workgroup memory and are read by every invocation at the same address (a broadcast), and each
 * query's scores of a tile wait in a column of workgroup memory. headDim is baked into the source (a
 * multiple of 4, at most 128; the forward holds two headDim vectors, so past 64 expect spills there).
 *
 * Backward, 5 matrix products per score (FlashAttention-2's count; the forward has 2), 1 + 2·chunks calls:
 * - prep: per (token, head) the pair (lse, delta = dO·o) into the scratch, where the key pass reads both
 *   through one binding (its 8 storage bindings are WebGPU's default maximum, so delta has no buffer
 *   of its own).
 * - key pass: a workgroup per (KV head, row, block of keys), which walks the query tiles of the block's
 *   range, [its first key, docEnd of its last key], for each query head of the group in turn. Per
 *   tile it forms S = QKᵀ and dP = dO·Vᵀ once, then P = exp(S − lse), dS = P∘(dP − delta),
 *   dV += Pᵀ·dO and dK += dSᵀ·Q (4 products), and writes dS to the scratch. Summing a KV head's query
 *   heads inside one workgroup, in head order, makes the GQA reduction deterministic with no atomics
 *   and no per-head partials, and loads each K and V once for the whole group.
 * - dq: the forward's layout, dq_i = Σ_j dS_ij·k_j from the scratch (the 5th product), in key order.
 *
 * Registers of the key pass: an invocation owning one key would hold k, v, dk and dv (4·headDim
 * floats, 256 at headDim 64, far past what a GPU thread keeps in registers). Instead a key's headDim
 * is split over SLICES invocations (the fewest, a power of two, that leave each at most 4 vec4s;
 * strided by vec4, so neighbouring slices read neighbouring words of workgroup memory), each holding
 * its part of the four: at most 64 floats at any headDim ≤ 128, and 64/SLICES keys per workgroup (16
 * at headDim 64). A score is then a sum of SLICES partial dot products, which go through workgroup
 * memory and are added in slice order by each of the key's invocations (the same bits in all of
 * them). Workgroup memory thus holds only query-side tiles: 8 queries' q and dO (padded to a whole
 * number of slices), the partials and the pairs, ≤ 12.5 KiB; 16 queries would pass 16 KiB at
 * headDim 64. K and V there instead would take 8 KiB for 16 keys at headDim 64 before any of that.
 * The price of looping over a group's heads is parallelism: kvHeads·rows·length/keys workgroups per
 * chunk (512 at the 100m shape, chunks of 4 rows), each walking rep query heads.
 *
 * The scratch: the pairs, [N, heads, 2], then dS per (row, query head) as the lower triangle of
 * 64×64 tiles (query block ≥ key block), each tile key-major, so the dq kernel's 64 invocations read
 * 64 consecutive floats per key, and the key pass writes runs of 8. A row of 1024 tokens and 12 heads
 * needs 27 MB, so the work is cut into chunks of rows (or, for long rows, of query heads within a
 * row, a KV head's sum then resuming from the previous chunk's dk and dv in the same order) that fit
 * one storage binding; the key pass and the dq kernel run per chunk, reusing the same scratch.
 *
 * Every kernel stays within WebGPU's default limits (64 invocations, ≤ 12.5 KiB of workgroup memory,
 * ≤ 8 storage buffers). Workgroups are numbered so the ones with the most work start first, which
 * shortens the causal tail. All sums run in a fixed order: results are bit-identical run to run, and
 * whatever the chunking.
 *
 * Covered by test/trainer/webgpu/kernels/attention.test.ts.
 */
import { type Buf, type Call, type Context, call, groups, kernel, read, write } from '../kernel.ts';
import { ENTRY, LOW, perElement } from './prelude.ts';

export interface AttentionShape {
  rows: number;
  length: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** Invocations per workgroup; queries per forward (and dq) workgroup; the edge of the scratch's dS tiles. */
const BLOCK = 64;
/** Queries per tile of the key pass (see the header for why 8). */
const QUERY_TILE = 8;
/** The largest headDim: each slice of the key pass holds at most 4 vec4s of it over 8 slices. */
const MAX_HEAD_DIM = 128;

/**
 * Keys per workgroup-memory tile of the forward and dq kernels: two headDim-wide tiles fill at most
 * 8 KiB, and at most 16 so the forward's scores (a tile's per query) take at most 4 KiB beside them.
 */
const tileOf = (headDim: number) => Math.min(16, Math.floor(1024 / headDim));

/**
 * The key pass's split of a key's headDim/4 vec4s: `slices` invocations (a power of two, so a
 * workgroup holds a whole number of keys) of `width` ≤ 4 vec4s each; `padded` = slices·width ≥ h4.
 */
function split(headDim: number): { slices: number; width: number; padded: number; keys: number } {
  const h4 = headDim / 4;
  let slices = 1;
  while (slices * 4 < h4) slices *= 2;
  const width = Math.ceil(h4 / slices);
  return { slices, width, padded: slices * width, keys: BLOCK / slices };
}

function check(ctx: Context, label: string, s: AttentionShape): void {
  const { rows, length, heads, kvHeads, headDim } = s;
  for (const [name, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${label}: ${name} ${v} is not a positive integer`);
  }
  if (heads % kvHeads !== 0) throw new RangeError(`${label}: heads ${heads} is not a multiple of kvHeads ${kvHeads}`);
  if (headDim % 4 !== 0 || headDim > MAX_HEAD_DIM) throw new RangeError(`${label}: headDim ${headDim} must be a multiple of 4 and at most ${MAX_HEAD_DIM}`);
  if (rows * length * heads >= 2 ** 32 / headDim) throw new RangeError(`${label}: ${rows}×${length} tokens × ${heads} heads overflow 32-bit indices`);
  // Grids are (heads, rows, blocks of at least 8 tokens).
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (Math.max(rows, heads, groups(length, QUERY_TILE)) > max) throw new RangeError(`${label}: rows ${rows}, heads ${heads} or length ${length} / ${QUERY_TILE} is more than ${max} workgroups`);
}

/** Constants every attention kernel shares; H4 is headDim in vec4s. */
function constants(headDim: number): string {
  return /* wgsl */ `
const BLOCK: u32 = ${BLOCK}u;
const H4: u32 = ${headDim / 4}u;
const TILE: u32 = ${tileOf(headDim)}u;
${LOW}
fn hsum(a: vec4f) -> f32 { return (a.x + a.y) + (a.z + a.w); }
`;
}

/**
 * The forward and dq kernels' shared frame: a workgroup per (head, row, query block), query blocks
 * counted down along wid.z because later queries see more keys. It loads tiles of `tiles` (pairs of
 * workgroup array and KV buffer) over the block's key range, [docStart of its first query, its last
 * query], zero past the range, and hands each invocation the part of a tile valid for its query,
 * [a, b].
 */
function queryKernel(o: { headDim: number; head: string; row: string; tiles: ReadonlyArray<readonly [string, string]>; init: string; body: string; finish: string }): string {
  return /* wgsl */ `${constants(o.headDim)}
${o.tiles.map(([t]) => `var<workgroup> ${t}: array<vec4f, TILE * H4>;`).join('\n')}
var<workgroup> first: i32;

@compute @workgroup_size(BLOCK)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let h = ${o.head};
  let row = ${o.row};
  let g = h / (p.heads / p.kvHeads);
  let qb = (p.length + BLOCK - 1u) / BLOCK - 1u - wid.z;
  let i0 = qb * BLOCK;
  let i = i0 + lid;
  let live = i < p.length;
  let rowBase = row * p.length;
  let t = rowBase + min(i, p.length - 1u);
  if (lid == 0u) { first = docStart[rowBase + i0]; }
  let kStart = u32(workgroupUniformLoad(&first));
  let kEnd = min(i0 + BLOCK, p.length);
  let lo = u32(docStart[t]);
${o.init}
  for (var j0 = kStart; j0 < kEnd; j0 += TILE) {
    for (var e = lid; e < TILE * H4; e += BLOCK) {
      let j = j0 + e / H4;
      let src = ((rowBase + min(j, kEnd - 1u)) * p.kvHeads + g) * H4 + e % H4;
${o.tiles.map(([t, b]) => `      ${t}[e] = select(vec4f(0.0), ${b}[src], j < kEnd);`).join('\n')}
    }
    workgroupBarrier();
    let a = max(lo, j0);
    let b = min(i, j0 + TILE - 1u);
    if (live && a <= b) {
${o.body}
    }
    workgroupBarrier();
  }
  if (live) {
${o.finish}
  }
}`;
}

const vec4s = () => read('array<vec4f>');

// The scores of a tile live in workgroup memory, each invocation's in its own column: as a register
// array indexed in a loop, llvmpipe compiled the kernel in 15-30 s (and a GPU would spend TILE
// registers on it); a store and a load per score are little beside its headDim-long dot product.
function forwardKernel(headDim: number) {
  return kernel('attentionForward', {
    bindings: { q: vec4s(), k: vec4s(), v: vec4s(), docStart: read('array<i32>'), o: write('array<vec4f>'), lse: write() },
    params: { length: 'u32', heads: 'u32', kvHeads: 'u32' },
    body: `var<workgroup> scores: array<f32, TILE * BLOCK>;
${queryKernel({
      headDim,
      head: 'wid.x',
      row: 'wid.y',
      tiles: [['kt', 'k'], ['vt', 'v']],
      init: /* wgsl */ `
  let qh = (t * p.heads + h) * H4;
  var qr: array<vec4f, H4>;
  var acc: array<vec4f, H4>;
  for (var d = 0u; d < H4; d++) { qr[d] = q[qh + d]; }
  var m = LOW;
  var l = 0.0;`,
      // A whole tile's scores first, then one rescale of the running output per tile, not per key.
      body: /* wgsl */ `
      var mt = m;
      for (var jj = 0u; jj < TILE; jj++) {
        var dot4 = vec4f(0.0);
        for (var d = 0u; d < H4; d++) { dot4 += qr[d] * kt[jj * H4 + d]; }
        let j = j0 + jj;
        let sc = select(LOW, hsum(dot4), j >= a && j <= b);
        scores[jj * BLOCK + lid] = sc;
        mt = max(mt, sc);
      }
      // m is LOW until a first valid key, and then exp(LOW − mt) = 0 drops the empty start.
      let scale = exp(m - mt);
      l *= scale;
      for (var d = 0u; d < H4; d++) { acc[d] *= scale; }
      for (var jj = 0u; jj < TILE; jj++) {
        let j = j0 + jj;
        let pj = select(0.0, exp(scores[jj * BLOCK + lid] - mt), j >= a && j <= b);
        l += pj;
        for (var d = 0u; d < H4; d++) { acc[d] += pj * vt[jj * H4 + d]; }
      }
      m = mt;`,
      finish: /* wgsl */ `
    let inv = 1.0 / l;
    for (var d = 0u; d < H4; d++) { o[qh + d] = acc[d] * inv; }
    lse[t * p.heads + h] = m + log(l);`,
    })}`,
  });
}

/** The chunk's uniform fields, shared by the key pass and the dq kernel. */
const CHUNK = { length: 'u32', heads: 'u32', kvHeads: 'u32', r0: 'u32', h0: 'u32', hc: 'u32', dsBase: 'u32', unitFloats: 'u32' } as const;

/**
 * WGSL: where dS of (query i, key j) of the chunk's unit `unit` lives in the scratch: past the pairs,
 * the unit's lower triangle of BLOCK×BLOCK tiles, tile (qb, kb) at (qb(qb+1)/2 + kb)·BLOCK², key-major
 * inside. kb·BLOCK² + (j % BLOCK)·BLOCK is j·BLOCK, so the key's part of the index is j·BLOCK.
 */
const DS_INDEX = /* wgsl */ `
fn dsRow(unit: u32, i: u32) -> u32 {
  let qb = i / BLOCK;
  return p.dsBase + unit * p.unitFloats + (qb * (qb + 1u) / 2u) * BLOCK * BLOCK + i % BLOCK;
}`;

function keyPassKernel(headDim: number) {
  const { slices, width } = split(headDim);
  return kernel('attentionKeys', {
    bindings: { q: vec4s(), k: vec4s(), v: vec4s(), dO: vec4s(), docEnd: read('array<i32>'), dk: write('array<vec4f>'), dv: write('array<vec4f>'), scratch: write() },
    params: CHUNK,
    body: /* wgsl */ `${constants(headDim)}
const SLICES: u32 = ${slices}u;
const SW: u32 = ${width}u;
const HP: u32 = SW * SLICES;
const KEYS: u32 = BLOCK / SLICES;
const QT: u32 = ${QUERY_TILE}u;
${DS_INDEX}

var<workgroup> qt: array<vec4f, QT * HP>;
var<workgroup> gt: array<vec4f, QT * HP>;
var<workgroup> sPart: array<f32, QT * BLOCK>;
var<workgroup> dpPart: array<f32, QT * BLOCK>;
var<workgroup> lt: array<f32, QT>;
var<workgroup> dt: array<f32, QT>;
var<workgroup> last: i32;

// A workgroup per (KV head g = the chunk's first + wid.x, row = the chunk's first + wid.y, block of
// KEYS keys = wid.z, the first blocks having the most queries); invocation lid holds slice lid % SLICES
// (vec4s slice, slice + SLICES, ...) of key lid / SLICES.
@compute @workgroup_size(BLOCK)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let rep = p.heads / p.kvHeads;
  let g = p.h0 / rep + wid.x;
  let row = p.r0 + wid.y;
  let slice = lid % SLICES;
  let key = lid / SLICES;
  let j0 = wid.z * KEYS;
  let j = j0 + key;
  let live = j < p.length;
  let rowBase = row * p.length;
  let t = rowBase + min(j, p.length - 1u);
  if (lid == 0u) { last = docEnd[rowBase + min(j0 + KEYS, p.length) - 1u]; }
  let qEnd = u32(workgroupUniformLoad(&last)) + 1u;
  let hi = u32(docEnd[t]);
  let kh = (t * p.kvHeads + g) * H4;
  let hA = max(p.h0, g * rep);
  let hB = min(p.h0 + p.hc, g * rep + rep);
  // When an earlier chunk summed the group's first heads, go on from its dk and dv: the same
  // additions in the same order as in one call.
  let resume = hA > g * rep;
  var kr: array<vec4f, SW>;
  var vr: array<vec4f, SW>;
  var dkr: array<vec4f, SW>;
  var dvr: array<vec4f, SW>;
  for (var m = 0u; m < SW; m++) {
    let d = slice + m * SLICES;
    if (d < H4) {
      kr[m] = k[kh + d];
      vr[m] = v[kh + d];
      if (resume) {
        dkr[m] = dk[kh + d];
        dvr[m] = dv[kh + d];
      }
    }
  }
  for (var h = hA; h < hB; h++) {
    let unit = wid.y * p.hc + h - p.h0;
    for (var i0 = j0; i0 < qEnd; i0 += QT) {
      for (var e = lid; e < QT * HP; e += BLOCK) {
        let i = i0 + e / HP;
        let c = e % HP;
        let src = ((rowBase + min(i, qEnd - 1u)) * p.heads + h) * H4 + min(c, H4 - 1u);
        let inside = i < qEnd && c < H4;
        qt[e] = select(vec4f(0.0), q[src], inside);
        gt[e] = select(vec4f(0.0), dO[src], inside);
      }
      if (lid < QT) {
        let r = 2u * ((rowBase + min(i0 + lid, qEnd - 1u)) * p.heads + h);
        lt[lid] = scratch[r];
        dt[lid] = scratch[r + 1u];
      }
      workgroupBarrier();
      let a = max(j, i0);
      let b = min(hi, i0 + QT - 1u);
      let act = live && a <= b;
      if (act) {
        for (var ii = 0u; ii < QT; ii++) {
          var s4 = vec4f(0.0);
          var p4 = vec4f(0.0);
          for (var m = 0u; m < SW; m++) {
            let x = ii * HP + slice + m * SLICES;
            s4 += kr[m] * qt[x];
            p4 += vr[m] * gt[x];
          }
          sPart[ii * BLOCK + lid] = hsum(s4);
          dpPart[ii * BLOCK + lid] = hsum(p4);
        }
      }
      workgroupBarrier();
      if (act) {
        for (var ii = 0u; ii < QT; ii++) {
          let i = i0 + ii;
          var s = 0.0;
          var dp = 0.0;
          for (var r = 0u; r < SLICES; r++) {
            s += sPart[ii * BLOCK + key * SLICES + r];
            dp += dpPart[ii * BLOCK + key * SLICES + r];
          }
          // Masked queries' exp may overflow; select discards it before it meets anything.
          let pr = select(0.0, exp(s - lt[ii]), i >= a && i <= b);
          let ds = pr * (dp - dt[ii]);
          for (var m = 0u; m < SW; m++) {
            let x = ii * HP + slice + m * SLICES;
            dvr[m] += pr * gt[x];
            dkr[m] += ds * qt[x];
          }
          if (ii % SLICES == slice && i < qEnd) { scratch[dsRow(unit, i) + j * BLOCK] = ds; }
        }
      }
      workgroupBarrier();
    }
  }
  if (live) {
    for (var m = 0u; m < SW; m++) {
      let d = slice + m * SLICES;
      if (d < H4) {
        dk[kh + d] = dkr[m];
        dv[kh + d] = dvr[m];
      }
    }
  }
}`,
  });
}

function dqKernel(headDim: number) {
  return kernel('attentionDq', {
    bindings: { k: vec4s(), docStart: read('array<i32>'), scratch: read(), dq: write('array<vec4f>') },
    params: CHUNK,
    body: `${DS_INDEX}
${queryKernel({
  headDim,
  head: 'p.h0 + wid.x',
  row: 'p.r0 + wid.y',
  tiles: [['kt', 'k']],
  init: /* wgsl */ `
  let ds0 = dsRow(wid.y * p.hc + wid.x, i);
  var acc: array<vec4f, H4>;`,
  // dS outside [a, b] was not written for this query (or is another chunk's): not read.
  body: /* wgsl */ `
      for (var jj = 0u; jj < TILE; jj++) {
        let j = j0 + jj;
        var ds = 0.0;
        if (j >= a && j <= b) { ds = scratch[ds0 + j * BLOCK]; }
        for (var d = 0u; d < H4; d++) { acc[d] += ds * kt[jj * H4 + d]; }
      }`,
  finish: /* wgsl */ `
    let qh = (t * p.heads + h) * H4;
    for (var d = 0u; d < H4; d++) { dq[qh + d] = acc[d]; }`,
})}`,
  });
}

// Elementwise, one (token, head) per invocation: a dot product per output, no matrix product (cost 0 flops).
const PREP = kernel('attentionPrep', {
  bindings: { o: vec4s(), dO: vec4s(), lse: read(), scratch: write() },
  params: { n: 'u32', h4: 'u32' },
  body: /* wgsl */ `${ENTRY}
  if (e >= p.n) { return; }
  var acc = vec4f(0.0);
  for (var d = 0u; d < p.h4; d++) { acc += o[e * p.h4 + d] * dO[e * p.h4 + d]; }
  scratch[2u * e] = lse[e];
  scratch[2u * e + 1u] = (acc.x + acc.y) + (acc.z + acc.w);
}`,
});

/** The per-headDim kernels, made once each (the headDim is baked into their source). */
const kernelsOf = (() => {
  const made = new Map<number, { forward: ReturnType<typeof forwardKernel>; keys: ReturnType<typeof keyPassKernel>; dq: ReturnType<typeof dqKernel> }>();
  return (headDim: number) => {
    let k = made.get(headDim);
    if (k === undefined) {
      k = { forward: forwardKernel(headDim), keys: keyPassKernel(headDim), dq: dqKernel(headDim) };
      made.set(headDim, k);
    }
    return k;
  };
})();

/**
 * Σ over queries i < length of the keys a query-block kernel computes for i with one document per row:
 * the whole `tile`-key tiles from 0 up to the one holding i, (⌊i/tile⌋ + 1)·tile, masked part included.
 */
function keysComputed(length: number, tile: number): number {
  let sum = 0;
  for (let j0 = 0; j0 < length; j0 += tile) sum += Math.min(tile, length - j0) * (j0 + tile);
  return sum;
}

/**
 * Σ over keys j < length of the queries the key pass computes for j with one document per row: the
 * whole QUERY_TILE-query tiles from the one holding j to the end of the row.
 */
function queriesComputed(length: number): number {
  const tiles = groups(length, QUERY_TILE);
  let sum = 0;
  for (let j0 = 0; j0 < length; j0 += QUERY_TILE) sum += Math.min(QUERY_TILE, length - j0) * (tiles - j0 / QUERY_TILE) * QUERY_TILE;
  return sum;
}

/**
 * o = softmax(q·kᵀ over the valid keys)·v and lse = the log-sum-exp of those scores.
 * Cost: flops = 4·headDim·rows·heads·keysComputed(length, tileOf(headDim)) (q·k and p·v per computed
 * key); bytes = q, k, v, docStart read, o and lse written.
 */
export function attentionForward(ctx: Context, s: AttentionShape, b: { q: Buf; k: Buf; v: Buf; docStart: Buf; o: Buf; lse: Buf }): Call[] {
  check(ctx, 'attentionForward', s);
  const { rows, length, heads, kvHeads, headDim } = s;
  const n = rows * length;
  const cost = {
    flops: 4 * headDim * rows * heads * keysComputed(length, tileOf(headDim)),
    bytes: 4 * n * (2 * heads * headDim + 2 * kvHeads * headDim + heads + 1),
  };
  return [call(kernelsOf(headDim).forward, b, { length, heads, kvHeads }, [heads, rows, groups(length, BLOCK)], cost)];
}

/** Rows r0..r0+rc−1 and query heads h0..h0+hc−1: what one key pass and one dq call cover. */
interface Chunk {
  r0: number;
  rc: number;
  h0: number;
  hc: number;
}

/**
 * The backward's scratch and chunks: the pairs (2·N·heads floats), then dS for one chunk's
 * (row, query head) units of `unitFloats` each; all of it within one storage binding. Whole rows per
 * chunk when a row fits, as few chunks as possible and as even as possible; else query heads of one
 * row, hc dividing heads and either a multiple or a divisor of rep so that no chunk holds part of two
 * KV heads' groups.
 */
function plan(ctx: Context, s: AttentionShape): { chunks: Chunk[]; floats: number; pairs: number; unitFloats: number } {
  const { rows, length, heads, kvHeads } = s;
  const rep = heads / kvHeads;
  const pairs = 2 * rows * length * heads;
  const nb = groups(length, BLOCK);
  const unitFloats = ((nb * (nb + 1)) / 2) * BLOCK * BLOCK;
  const maxFloats = Math.floor(ctx.limits.maxStorageBufferBindingSize / 4);
  const fit = Math.floor((maxFloats - pairs) / unitFloats);
  const chunks: Chunk[] = [];
  if (fit >= heads) {
    const count = Math.ceil(rows / Math.min(rows, Math.floor(fit / heads)));
    const rc = Math.ceil(rows / count);
    for (let r0 = 0; r0 < rows; r0 += rc) chunks.push({ r0, rc: Math.min(rc, rows - r0), h0: 0, hc: heads });
    return { chunks, floats: pairs + rc * heads * unitFloats, pairs, unitFloats };
  }
  let hc = Math.min(fit, heads);
  while (hc >= 1 && (heads % hc !== 0 || (hc % rep !== 0 && rep % hc !== 0))) hc--;
  if (hc < 1) {
    throw new RangeError(
      `attentionBackward: ${rows}×${length} tokens × ${heads} heads need ${4 * (pairs + unitFloats)} bytes of scratch at least, more than one storage binding's ${ctx.limits.maxStorageBufferBindingSize}`,
    );
  }
  for (let r0 = 0; r0 < rows; r0++) for (let h0 = 0; h0 < heads; h0 += hc) chunks.push({ r0, rc: 1, h0, hc });
  return { chunks, floats: pairs + hc * unitFloats, pairs, unitFloats };
}

/** Floats of scratch the backward needs (0 if none); the engine allocates it once and shares it across layers. */
export function attentionBackwardScratchFloats(ctx: Context, s: AttentionShape): number {
  check(ctx, 'attentionBackward', s);
  return plan(ctx, s).floats;
}

/**
 * dq, dk, dv from dO and the forward's o and lse, overwritten; `scratch` holds at least
 * attentionBackwardScratchFloats floats. The calls must run in the returned order.
 *
 * Cost of a chunk of rc rows and hc query heads (kg KV heads), T = length, D = headDim:
 * - prep (once): flops 0; bytes o, dO, lse read and the pairs written.
 * - key pass: flops = 8·P·rc·hc·queriesComputed(T) (S, dP, dV, dK per computed query and key; P the
 *   padded width slices·width·4 that the slices multiply, D itself when the slices divide D/4, as at
 *   64); bytes q, dO, pairs (hc heads), k, v, dk, dv (kg heads; dk and dv read too when resuming),
 *   docEnd, and dS's T(T+1)/2 per (row, head).
 * - dq: flops = 2·D·rc·hc·keysComputed(T, tileOf(D)); bytes dS, k, docStart read, dq written.
 */
export function attentionBackward(
  ctx: Context,
  s: AttentionShape,
  b: { q: Buf; k: Buf; v: Buf; docStart: Buf; docEnd: Buf; o: Buf; lse: Buf; dO: Buf; dq: Buf; dk: Buf; dv: Buf; scratch?: Buf },
): Call[] {
  check(ctx, 'attentionBackward', s);
  const { rows, length, heads, kvHeads, headDim } = s;
  const rep = heads / kvHeads;
  const { chunks, floats, pairs, unitFloats } = plan(ctx, s);
  if (b.scratch === undefined || b.scratch.size < 4 * floats) {
    throw new RangeError(`attentionBackward: the scratch must hold ${floats} floats (attentionBackwardScratchFloats)`);
  }
  const scratch = { buffer: b.scratch, offset: 0, size: 4 * floats };
  const k = kernelsOf(headDim);
  const n = rows * length * heads;
  const calls = [call(PREP, { o: b.o, dO: b.dO, lse: b.lse, scratch }, { n, h4: headDim / 4 }, perElement(ctx, n), { flops: 0, bytes: 4 * n * (2 * headDim + 3) })];
  const pairsPerUnit = (length * (length + 1)) / 2;
  const { padded, keys } = split(headDim);
  const keyBlocks = groups(length, keys);
  for (const { r0, rc, h0, hc } of chunks) {
    const tokens = rc * length;
    const kg = Math.ceil(hc / rep);
    const resume = h0 % rep !== 0;
    const values = { length, heads, kvHeads, r0, h0, hc, dsBase: pairs, unitFloats };
    const dS = rc * hc * pairsPerUnit;
    calls.push(
      call(k.keys, { q: b.q, k: b.k, v: b.v, dO: b.dO, docEnd: b.docEnd, dk: b.dk, dv: b.dv, scratch }, values, [kg, rc, keyBlocks], {
        flops: 8 * 4 * padded * rc * hc * queriesComputed(length),
        bytes: 4 * (tokens * (hc * (2 * headDim + 2) + kg * headDim * (resume ? 6 : 4) + 1) + dS),
      }),
      call(k.dq, { k: b.k, docStart: b.docStart, scratch, dq: b.dq }, values, [hc, rc, groups(length, BLOCK)], {
        flops: 2 * headDim * rc * hc * keysComputed(length, tileOf(headDim)),
        bytes: 4 * (tokens * (hc * headDim + kg * headDim + 1) + dS),
      }),
    );
  }
  return calls;
}
