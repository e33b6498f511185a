/**
 * WGSL that several kernel families share, written once: the workgroup sum. Its reduction tree is
 * fixed (halving strides over `size` invocations), so every kernel that sums through it gets the same
 * bits on every run.
 *
 * Covered through its users: test/trainer/webgpu/kernels/{adamw,loss,norm}.test.ts.
 */

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
