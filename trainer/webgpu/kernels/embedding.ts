/**
 * The token embedding: the forward gathers table rows by id; the backward scatter-adds each token's
 * gradient onto its id's row. Repeated ids make that a reduction, done here without float atomics so
 * the step is bit-reproducible: the host groups the batch's tokens by id (embeddingSegments), and the
 * kernel gives each (id, column block) one invocation per column that sums its segment's rows in
 * token order and adds the total onto the table row, which no other invocation touches.
 *
 * Covered by test/trainer/webgpu/kernels/embedding.test.ts.
 */
import { type Buf, type Call, type Context, call, grid, groups, kernel, read, write } from '../kernel.ts';
import { gatherRows } from './elementwise.ts';
import { ENTRY, WG } from './prelude.ts';

/** x[t] = table[ids[t]] for t < tokens (rows of `dim` floats; ids i32). */
export function embeddingForward(ctx: Context, s: { tokens: number; dim: number }, b: { ids: Buf; table: Buf; x: Buf }): Call {
  return { ...gatherRows(ctx, { rows: s.tokens, dim: s.dim }, { src: b.table, index: b.ids, dst: b.x }), label: 'embeddingForward' };
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
const BACKWARD = kernel('embeddingBackward', {
  bindings: {
    order: read('array<i32>'),
    segStart: read('array<i32>'),
    segId: read('array<i32>'),
    segCount: read('array<i32>'),
    dx: read(),
    dtable: write(),
  },
  params: { dim: 'u32', colBlocks: 'u32', maxSegments: 'u32', maxTokens: 'u32' },
  body: /* wgsl */ `${ENTRY}
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
}`,
});

/**
 * dtable[segId[k]] += Σ_{i=segStart[k]}^{segStart[k+1]−1} dx[order[i]] for k < segCount[0]. Sized for
 * maxSegments segments over maxTokens tokens: order holds maxTokens entries, segStart maxSegments + 1,
 * segId maxSegments; segCount is one i32 the engine writes each micro-batch.
 */
export function embeddingBackward(
  ctx: Context,
  s: { maxSegments: number; maxTokens: number; dim: number },
  b: { order: Buf; segStart: Buf; segId: Buf; segCount: Buf; dx: Buf; dtable: Buf },
): Call {
  const colBlocks = groups(s.dim, WG);
  // Bytes, for a batch of maxTokens tokens (the engine pads every micro-batch to it): each token's
  // gradient row and order entry read once; the table rows, one per distinct id, are left out.
  return call(BACKWARD, b, { dim: s.dim, colBlocks, maxSegments: s.maxSegments, maxTokens: s.maxTokens }, grid(ctx, s.maxSegments * colBlocks), {
    flops: 0,
    bytes: 4 * s.maxTokens * (s.dim + 1),
  });
}
