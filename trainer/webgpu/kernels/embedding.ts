/**
 * The token embedding: the forward gathers table rows by id; the backward scatter-adds each token's
 * gradient onto its id's row. Repeated ids make that a reduction, done here without float atomics so
 * the step is bit-reproducible: the host groups the batch's tokens by id (embeddingSegments), and the
 * kernel gives each (id, column block) one invocation per column that sums its segment's rows in
 * token order and adds the total onto the table row, which no other invocation touches.
 *
 * Covered by test/trainer/webgpu/kernels/embedding.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';
import { gatherRows, grid, WG } from './elementwise.ts';

/** x[t] = table[ids[t]] for t < tokens (rows of `dim` floats; ids i32). */
export function embeddingForward(gpu: Gpu, s: { tokens: number; dim: number }, b: { ids: GPUBuffer; table: GPUBuffer; x: GPUBuffer }): Dispatch {
  const d = gatherRows(gpu, { rows: s.tokens, dim: s.dim }, { src: b.table, index: b.ids, dst: b.x });
  return { ...d, label: 'embeddingForward' };
}

/**
 * Host: tokens grouped by id, for a deterministic scatter-add without atomics. order: token indices
 * sorted by id, ties in token order; segment k is order[segStart[k] .. segStart[k+1]), all of id
 * segId[k]; segStart has one entry more than there are segments (distinct ids).
 */
export function embeddingSegments(ids: Int32Array): { order: Int32Array; segStart: Int32Array; segId: Int32Array } {
  // Array.prototype.sort is stable, so tokens of one id stay in batch order.
  const order = Int32Array.from(Array.from(ids.keys()).sort((a, b) => ids[a] - ids[b]));
  const starts: number[] = [];
  const segIds: number[] = [];
  for (let i = 0; i < order.length; i++) {
    const id = ids[order[i]];
    if (i === 0 || id !== segIds[segIds.length - 1]) {
      starts.push(i);
      segIds.push(id);
    }
  }
  starts.push(order.length);
  return { order, segStart: Int32Array.from(starts), segId: Int32Array.from(segIds) };
}

// Workgroup gi takes segment gi / colBlocks, columns (gi mod colBlocks)·WG..: each step of the loop
// reads WG consecutive floats of one token's gradient row. Segments at or past segCount[0] (the
// dispatch is sized for maxSegments) return at once.
const BACKWARD = /* wgsl */ `
struct P { dim: u32, colBlocks: u32, maxSegments: u32, maxTokens: u32 }
@group(0) @binding(0) var<storage, read> order: array<i32>;
@group(0) @binding(1) var<storage, read> segStart: array<i32>;
@group(0) @binding(2) var<storage, read> segId: array<i32>;
@group(0) @binding(3) var<storage, read> segCount: array<i32>;
@group(0) @binding(4) var<storage, read> dx: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(6) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = wid.y * nwg.x + wid.x;
  let seg = gi / p.colBlocks;
  let c = (gi - seg * p.colBlocks) * ${WG}u + lid;
  if (c >= p.dim || seg >= min(p.maxSegments, u32(max(segCount[0], 0)))) { return; }
  // Clamped to the buffers' sizes, so a stale or garbled segment table cannot read out of bounds.
  let i1 = min(u32(max(segStart[seg + 1u], 0)), p.maxTokens);
  var acc = 0.0;
  for (var i = min(u32(max(segStart[seg], 0)), i1); i < i1; i++) {
    acc = acc + dx[u32(order[i]) * p.dim + c];
  }
  let at = u32(segId[seg]) * p.dim + c;
  dtable[at] = dtable[at] + acc;
}`;

/**
 * dtable[segId[k]] += Σ_{i=segStart[k]}^{segStart[k+1]−1} dx[order[i]] for k < segCount[0]. Sized for
 * maxSegments segments over maxTokens tokens: order holds maxTokens entries, segStart maxSegments + 1,
 * segId maxSegments; segCount is one i32 the engine writes each micro-batch.
 */
export function embeddingBackward(
  gpu: Gpu,
  s: { maxSegments: number; maxTokens: number; dim: number },
  b: { order: GPUBuffer; segStart: GPUBuffer; segId: GPUBuffer; segCount: GPUBuffer; dx: GPUBuffer; dtable: GPUBuffer },
): Dispatch {
  const colBlocks = groups(s.dim, WG);
  const u = gpu.uniform(params([['u32', s.dim], ['u32', colBlocks], ['u32', s.maxSegments], ['u32', s.maxTokens]]), 'embeddingBackward params');
  return gpu.dispatch(
    'embeddingBackward',
    gpu.pipeline('embeddingBackward', BACKWARD),
    [b.order, b.segStart, b.segId, b.segCount, b.dx, b.dtable, u],
    grid(gpu, s.maxSegments * colBlocks),
  );
}
