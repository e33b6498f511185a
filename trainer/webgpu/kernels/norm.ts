/**
 * RMSNorm as trainer/model.ts computes it, y = x·rstd·w with rstd = 1/sqrt(mean(x²) + eps) per row,
 * and its backward on the residual stream:
 *
 *   dx = r·(dy·w) − x·r³·mean(dy·w·x)        (added onto the residual gradient already in dx)
 *   dw += Σ_rows dy·x·r
 *
 * Forward and dx take one workgroup per row with the prelude's workgroup sum; the forward saves rstd
 * so the backward never recomputes the row's sum of squares. dw is summed without float atomics, in
 * a fixed order, so a step is bit-reproducible: per-chunk column partial sums over CHUNK rows, then
 * one pass adding the chunks' partials onto dw.
 *
 * Covered by test/trainer/webgpu/kernels/norm.test.ts.
 */
import { type Buf, type Call, type Context, call, grid, groups, kernel, read, write } from '../kernel.ts';
import { ENTRY, perRow, ROW_ENTRY, WG, workgroupSum } from './prelude.ts';

/** Rows per dw partial sum: enough workgroups to fill a large GPU, and a partial 1/CHUNK of dy's size. */
const CHUNK = 32;

/** Floats of scratch the backward's dw partial sums take. */
export const rmsNormPartialFloats = (rows: number, dim: number): number => groups(rows, CHUNK) * dim;

const FORWARD = kernel('rmsNormForward', {
  bindings: { x: read(), w: read(), y: write(), rstd: write() },
  params: { rows: 'u32', dim: 'u32', eps: 'f32' },
  body: /* wgsl */ `${workgroupSum(WG)}
${ROW_ENTRY}
  let base = row * p.dim;
  var s = 0.0;
  for (var c = lid; c < p.dim; c += ${WG}u) {
    let v = x[base + c];
    s = s + v * v;
  }
  let r = inverseSqrt(workgroupSum(lid, s) / f32(p.dim) + p.eps);
  if (lid == 0u) { rstd[row] = r; }
  for (var c = lid; c < p.dim; c += ${WG}u) {
    y[base + c] = x[base + c] * r * w[c];
  }
}`,
});

const BACKWARD_DX = kernel('rmsNormBackward dx', {
  bindings: { x: read(), w: read(), rstd: read(), dy: read(), dx: write() },
  params: { rows: 'u32', dim: 'u32', accumulate: 'u32' },
  body: /* wgsl */ `${workgroupSum(WG)}
${ROW_ENTRY}
  let base = row * p.dim;
  var s = 0.0;
  for (var c = lid; c < p.dim; c += ${WG}u) {
    s = s + dy[base + c] * w[c] * x[base + c];
  }
  let dot = workgroupSum(lid, s);
  let r = rstd[row];
  let k = dot * r * r * r / f32(p.dim);
  for (var c = lid; c < p.dim; c += ${WG}u) {
    let i = base + c;
    var g = r * dy[i] * w[c] - k * x[i];
    if (p.accumulate != 0u) { g = g + dx[i]; }
    dx[i] = g;
  }
}`,
});

// Workgroup gi covers columns (gi mod colBlocks)·WG.. of chunk gi / colBlocks: a chunk's rows are read
// a row-segment of WG consecutive floats at a time.
const BACKWARD_PARTIAL = kernel('rmsNormBackward dw partial', {
  bindings: { x: read(), rstd: read(), dy: read(), partial: write() },
  params: { rows: 'u32', dim: 'u32', colBlocks: 'u32', chunks: 'u32' },
  body: /* wgsl */ `${ENTRY}
  let chunk = gi / p.colBlocks;
  let c = (gi - chunk * p.colBlocks) * ${WG}u + lid;
  if (chunk >= p.chunks || c >= p.dim) { return; }
  let r0 = chunk * ${CHUNK}u;
  let r1 = min(r0 + ${CHUNK}u, p.rows);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    let i = r * p.dim + c;
    s = s + dy[i] * x[i] * rstd[r];
  }
  partial[chunk * p.dim + c] = s;
}`,
});

// TILE columns × LANES invocations per workgroup: a lane sums every LANES-th chunk of its column, so
// the pass keeps many workgroups busy even for a narrow dim, then the lanes combine in a fixed order.
const TILE = 32;
const LANES = WG / TILE;
const BACKWARD_REDUCE = kernel('rmsNormBackward dw', {
  bindings: { partial: read(), dw: write() },
  params: { dim: 'u32', chunks: 'u32' },
  body: /* wgsl */ `
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${TILE}, ${LANES})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let c = (wid.y * nwg.x + wid.x) * ${TILE}u + l.x;
  var s = 0.0;
  if (c < p.dim) {
    for (var k = l.y; k < p.chunks; k += ${LANES}u) { s = s + partial[k * p.dim + c]; }
  }
  red[l.y * ${TILE}u + l.x] = s;
  workgroupBarrier();
  if (l.y == 0u && c < p.dim) {
    var t = 0.0;
    for (var j = 0u; j < ${LANES}u; j++) { t = t + red[j * ${TILE}u + l.x]; }
    dw[c] = dw[c] + t;
  }
}`,
});

/** y = x·rstd·w and rstd (one float per row), for x of [rows, dim]. */
export function rmsNormForward(ctx: Context, s: { rows: number; dim: number; eps: number }, b: { x: Buf; w: Buf; y: Buf; rstd: Buf }): Call {
  // Bytes: x read, y written, w and rstd once.
  return call(FORWARD, b, s, perRow(ctx, s.rows), { flops: 0, bytes: 8 * s.rows * s.dim + 4 * s.dim + 4 * s.rows });
}

/**
 * dx = (accumulateDx ? dx : 0) + ∂/∂x, and dw += ∂/∂w, from the forward's x and rstd. `partial` holds
 * at least rmsNormPartialFloats(rows, dim) floats and may be shared by every norm: its contents are
 * dead once the returned calls have run.
 */
export function rmsNormBackward(
  ctx: Context,
  s: { rows: number; dim: number },
  b: { x: Buf; w: Buf; rstd: Buf; dy: Buf; dx: Buf; dw: Buf; partial: Buf },
  o: { accumulateDx: boolean },
): Call[] {
  const { rows, dim } = s;
  const chunks = groups(rows, CHUNK);
  const colBlocks = groups(dim, WG);
  const n = rows * dim;
  // Bytes: dx reads x and dy (and dx when accumulating) and writes dx; the partial pass reads x and dy
  // and writes the partials, which the last pass reads before reading and writing dw.
  return [
    call(BACKWARD_DX, { x: b.x, w: b.w, rstd: b.rstd, dy: b.dy, dx: b.dx }, { rows, dim, accumulate: o.accumulateDx ? 1 : 0 }, perRow(ctx, rows), {
      flops: 0,
      bytes: (o.accumulateDx ? 16 : 12) * n + 4 * dim + 4 * rows,
    }),
    call(BACKWARD_PARTIAL, { x: b.x, rstd: b.rstd, dy: b.dy, partial: b.partial }, { rows, dim, colBlocks, chunks }, grid(ctx, chunks * colBlocks), {
      flops: 0,
      bytes: 8 * n + 4 * rows + 4 * chunks * dim,
    }),
    call(BACKWARD_REDUCE, { partial: b.partial, dw: b.dw }, { dim, chunks }, grid(ctx, groups(dim, TILE)), { flops: 0, bytes: 4 * chunks * dim + 8 * dim }),
  ];
}
