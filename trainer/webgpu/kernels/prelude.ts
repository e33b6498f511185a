/**
 * WGSL that several kernel families share, written once: the entry point of the one-dimensional
 * kernels on their 2-D grid, and the workgroup sum.
 *
 * The grid: one dimension holds at most 65535 workgroups, and a 46 M-element tensor needs 180 k
 * workgroups of 256, so a flat count is laid out as x × y (kernel.ts's `grid`) and unfolded here.
 *
 * The sum's reduction tree is fixed (halving strides over `size` invocations), so every kernel that
 * sums through it gets the same bits on every run.
 *
 * Covered through its users: test/trainer/webgpu/kernels/{adamw,elementwise,loss,norm}.test.ts.
 */
import { type Context, grid, groups } from '../kernel.ts';

/** Invocations per workgroup for the 1-D kernels: WebGPU's default maximum. */
export const WG = 256;

/**
 * WGSL: the entry point's signature for a grid from `grid`, with `gi` the flat workgroup index and
 * `e` the flat invocation index (gi·WG + local index).
 */
export const ENTRY = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = wid.y * nwg.x + wid.x;
  let e = gi * ${WG}u + lid;`;

/** Workgroups of WG invocations for `n` elements, on the 2-D grid. */
export const perElement = (ctx: Context, n: number): [number, number] => grid(ctx, groups(n, WG));

/**
 * `workgroupSum(lid, v)`: the sum of `v` over a workgroup of `size` invocations (a power of two),
 * returned to every invocation. Each must call it, uniformly. The last barrier keeps the scratch's
 * total from being overwritten before all have read it, should a kernel sum twice.
 */
export const workgroupSum = (size: number): string => /* wgsl */ `
var<workgroup> sumScratch: array<f32, ${size}>;

fn workgroupSum(lid: u32, v: f32) -> f32 {
  sumScratch[lid] = v;
  workgroupBarrier();
  for (var k = ${size / 2}u; k > 0u; k = k >> 1u) {
    if (lid < k) { sumScratch[lid] = sumScratch[lid] + sumScratch[lid + k]; }
    workgroupBarrier();
  }
  let total = sumScratch[0];
  workgroupBarrier();
  return total;
}`;
