/**
 * RMSNorm as trainer/model.ts computes it, y = x·rstd·w with rstd = 1/sqrt(mean(x²) + eps) per row,
 * and its backward on the residual stream:
 *
 *   dx = r·(dy·w) − x·r³·mean(dy·w·x)        (added onto the residual gradient already in dx)
 *   dw += Σ_rows dy·x·r
 *
 * Forward and dx take one workgroup per row with a tree reduction in workgroup memory; the forward
 * saves rstd so the backward never recomputes the row's sum of squares. dw is summed without float
 * atomics, in a fixed order, so a step is bit-reproducible: per-chunk column partial sums over
 * CHUNK rows, then one pass adding the chunks' partials onto dw.
 *
 * Covered by test/trainer/webgpu/kernels/norm.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';
import { grid, WG } from './elementwise.ts';
import { workgroupSum } from './prelude.ts';

/** Rows per dw partial sum: enough workgroups to fill a large GPU, and a partial 1/CHUNK of dy's size. */
const CHUNK = 32;

/** Floats of scratch the backward's dw partial sums take. */
export const rmsNormPartialFloats = (rows: number, dim: number): number => groups(rows, CHUNK) * dim;

/** WGSL: a workgroup per row (`row`, uniform across the workgroup) and `workgroupSum(lid, v)` over its invocations. */
const ROW = workgroupSum(WG);

const ROW_ENTRY = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.dim;`;

const FORWARD = /* wgsl */ `
struct P { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
${ROW}
${ROW_ENTRY}
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
}`;

const BACKWARD_DX = /* wgsl */ `
struct P { rows: u32, dim: u32, accumulate: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${ROW}
${ROW_ENTRY}
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
}`;

// Workgroup gi covers columns (gi mod colBlocks)·WG.. of chunk gi / colBlocks: a chunk's rows are read
// a row-segment of WG consecutive floats at a time.
const BACKWARD_PARTIAL = /* wgsl */ `
struct P { rows: u32, dim: u32, colBlocks: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> rstd: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> partial: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = wid.y * nwg.x + wid.x;
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
}`;

// TILE columns × LANES invocations per workgroup: a lane sums every LANES-th chunk of its column, so
// the pass keeps many workgroups busy even for a narrow dim, then the lanes combine in a fixed order.
const TILE = 32;
const LANES = WG / TILE;
const BACKWARD_REDUCE = /* wgsl */ `
struct P { dim: u32, chunks: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
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
}`;

/** y = x·rstd·w and rstd (one float per row), for x of [rows, dim]. */
export function rmsNormForward(
  gpu: Gpu,
  s: { rows: number; dim: number; eps: number },
  b: { x: GPUBuffer; w: GPUBuffer; y: GPUBuffer; rstd: GPUBuffer },
): Dispatch {
  const u = gpu.uniform(params([['u32', s.rows], ['u32', s.dim], ['f32', s.eps]]), 'rmsNormForward params');
  return gpu.dispatch('rmsNormForward', gpu.pipeline('rmsNormForward', FORWARD), [b.x, b.w, b.y, b.rstd, u], grid(gpu, s.rows));
}

/**
 * dx = (accumulateDx ? dx : 0) + ∂/∂x, and dw += ∂/∂w, from the forward's x and rstd. `partial` holds
 * at least rmsNormPartialFloats(rows, dim) floats and may be shared by every norm: its contents are
 * dead once the returned dispatches have run.
 */
export function rmsNormBackward(
  gpu: Gpu,
  s: { rows: number; dim: number },
  b: { x: GPUBuffer; w: GPUBuffer; rstd: GPUBuffer; dy: GPUBuffer; dx: GPUBuffer; dw: GPUBuffer; partial: GPUBuffer },
  o: { accumulateDx: boolean },
): Dispatch[] {
  const chunks = groups(s.rows, CHUNK);
  const colBlocks = groups(s.dim, WG);
  const uDx = gpu.uniform(params([['u32', s.rows], ['u32', s.dim], ['u32', o.accumulateDx ? 1 : 0]]), 'rmsNormBackward dx params');
  const uPartial = gpu.uniform(params([['u32', s.rows], ['u32', s.dim], ['u32', colBlocks], ['u32', chunks]]), 'rmsNormBackward partial params');
  const uReduce = gpu.uniform(params([['u32', s.dim], ['u32', chunks]]), 'rmsNormBackward dw params');
  return [
    gpu.dispatch('rmsNormBackward dx', gpu.pipeline('rmsNormBackward dx', BACKWARD_DX), [b.x, b.w, b.rstd, b.dy, b.dx, uDx], grid(gpu, s.rows)),
    gpu.dispatch('rmsNormBackward dw partial', gpu.pipeline('rmsNormBackward dw partial', BACKWARD_PARTIAL), [b.x, b.rstd, b.dy, b.partial, uPartial], grid(gpu, chunks * colBlocks)),
    gpu.dispatch('rmsNormBackward dw', gpu.pipeline('rmsNormBackward dw', BACKWARD_REDUCE), [b.partial, b.dw, uReduce], grid(gpu, groups(s.dim, TILE))),
  ];
}
