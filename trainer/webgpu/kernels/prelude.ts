/**
 * WGSL that several kernel families share, written once: the entry points of the one-dimensional and
 * the row-wise kernels on their 2-D grid, the workgroup reductions, and the finite stand-in for −inf.
 *
 * The grid: one dimension holds at most 65535 workgroups, and a 46 M-element tensor needs 180 k
 * workgroups of 256, so a flat count is laid out as x × y (kernel.ts's `grid`) and unfolded here.
 *
 * The reductions' tree is fixed (halving strides over `size` invocations), so every kernel that
 * reduces through them gets the same bits on every run.
 *
 * Covered through its users: test/trainer/webgpu/kernels/{adamw,elementwise,embedding,loss,norm,rope,swiglu}.test.ts.
 */
import { type Context, grid, groups } from '../kernel.ts';

/** Invocations per workgroup for the 1-D and row-wise kernels: WebGPU's default maximum. */
export const WG = 256;

/**
 * WGSL: the entry point's signature for a grid from `grid`, with `gi` the flat workgroup index and
 * `e` the flat invocation index (gi·WG + local index `lid`).
 */
export const ENTRY = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = wid.y * nwg.x + wid.x;
  let e = gi * ${WG}u + lid;`;

/** Workgroups of WG invocations for `n` elements, on the 2-D grid. */
export const perElement = (ctx: Context, n: number): [number, number] => grid(ctx, groups(n, WG));

/**
 * WGSL: the entry point of a kernel with one workgroup of WG invocations (`lid`) per row `row`, for a
 * grid from `perRow`; the kernel declares a `rows: 'u32'` param. The workgroups past the last row
 * return as a whole, so the rest of the body may reduce over the workgroup.
 */
export const ROW_ENTRY = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }`;

/** One workgroup per row, on the 2-D grid. */
export const perRow = (ctx: Context, rows: number): [number, number] => grid(ctx, rows);

/**
 * `fn(lid, v)`: `v` combined over a workgroup of `size` invocations (a power of two) by halving
 * strides, returned to every invocation. Each must call it, uniformly. The last barrier keeps the
 * scratch's total from being overwritten before all have read it, should a kernel reduce twice.
 */
const tree = (fn: string, size: number, combine: (a: string, b: string) => string): string => /* wgsl */ `
var<workgroup> ${fn}Scratch: array<f32, ${size}>;

fn ${fn}(lid: u32, v: f32) -> f32 {
  ${fn}Scratch[lid] = v;
  workgroupBarrier();
  for (var k = ${size / 2}u; k > 0u; k = k >> 1u) {
    if (lid < k) { ${fn}Scratch[lid] = ${combine(`${fn}Scratch[lid]`, `${fn}Scratch[lid + k]`)}; }
    workgroupBarrier();
  }
  let total = ${fn}Scratch[0];
  workgroupBarrier();
  return total;
}`;

/** WGSL: `workgroupSum(lid, v)`, the sum of `v` over a workgroup of `size` invocations (see `tree`). */
export const workgroupSum = (size: number): string => tree('workgroupSum', size, (a, b) => `${a} + ${b}`);

/** WGSL: `workgroupMax(lid, v)`, the maximum of `v` over a workgroup of `size` invocations (see `tree`). */
export const workgroupMax = (size: number): string => tree('workgroupMax', size, (a, b) => `max(${a}, ${b})`);

/**
 * WGSL: `LOW`, the finite stand-in for −inf that a running maximum starts from: exp(LOW − x) is 0
 * for any real x, and no inf − inf can make a NaN.
 */
export const LOW = /* wgsl */ `const LOW: f32 = -3.0e38;`;
