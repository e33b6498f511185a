/**
 * Elementwise kernels of the WebGPU engine: copy, add, fill, and row gather (i32 indices).
 * One element per invocation, consecutive invocations on consecutive addresses, so every access is
 * coalesced and the kernels run at memory bandwidth.
 *
 * Also the grid helper the other kernel files share: a flat count of workgroups laid out on a 2-D
 * grid, because one dimension holds at most 65535 workgroups (maxComputeWorkgroupsPerDimension) and
 * a 46 M-element tensor needs 180 k workgroups of 256.
 *
 * Covered by test/trainer/webgpu/kernels/elementwise.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';

/** Invocations per workgroup for the 1-D kernels: WebGPU's default maximum. */
export const WG = 256;

/** `count` workgroups as an x × y grid (x·y ≥ count; the extra ones find nothing to do). */
export function grid(gpu: Gpu, count: number): [number, number] {
  const max = gpu.device.limits.maxComputeWorkgroupsPerDimension;
  if (count <= max) return [count, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y];
}

/**
 * WGSL: the entry point's signature for a grid from `grid`, with `gi` the flat workgroup index and
 * `e` the flat invocation index (gi·WG + local index).
 */
export const ENTRY = /* wgsl */ `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gi = wid.y * nwg.x + wid.x;
  let e = gi * ${WG}u + lid;`;

/** A dispatch of one invocation per element over `n` elements. */
function perElement(gpu: Gpu, label: string, code: string, bindings: GPUBuffer[], n: number): Dispatch {
  return gpu.dispatch(label, gpu.pipeline(label, code), bindings, grid(gpu, groups(n, WG)));
}

const COPY = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ENTRY}
  if (e < p.n) { dst[e] = src[e]; }
}`;

export function copy(gpu: Gpu, s: { n: number }, b: { src: GPUBuffer; dst: GPUBuffer }): Dispatch {
  if (b.src === b.dst) throw new RangeError('copy: src and dst are the same buffer');
  const u = gpu.uniform(params([['u32', s.n]]), 'copy params');
  return perElement(gpu, 'copy', COPY, [b.src, b.dst, u], s.n);
}

const ADD = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${ENTRY}
  if (e < p.n) { out[e] = a[e] + b[e]; }
}`;

// WebGPU refuses one buffer bound both read-only and read-write in a dispatch (and Dawn refuses two
// aliasing writable bindings), so an output that is also an input is bound once, read-write.
const ADD_INTO = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> b: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
${ENTRY}
  if (e < p.n) { out[e] = out[e] + b[e]; }
}`;

const DOUBLE = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
${ENTRY}
  if (e < p.n) { out[e] = out[e] + out[e]; }
}`;

/** out = a + b; `out` may be `a` or `b` (or both). */
export function add(gpu: Gpu, s: { n: number }, b: { a: GPUBuffer; b: GPUBuffer; out: GPUBuffer }): Dispatch {
  const u = gpu.uniform(params([['u32', s.n]]), 'add params');
  if (b.out === b.a && b.out === b.b) return perElement(gpu, 'add', DOUBLE, [b.out, u], s.n);
  // Addition commutes, so a + out and out + b are the same kernel.
  if (b.out === b.a) return perElement(gpu, 'add', ADD_INTO, [b.b, b.out, u], s.n);
  if (b.out === b.b) return perElement(gpu, 'add', ADD_INTO, [b.a, b.out, u], s.n);
  return perElement(gpu, 'add', ADD, [b.a, b.b, b.out, u], s.n);
}

const FILL = /* wgsl */ `
struct P { n: u32, value: f32 }
@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
${ENTRY}
  if (e < p.n) { dst[e] = p.value; }
}`;

export function fill(gpu: Gpu, s: { n: number; value: number }, b: { dst: GPUBuffer }): Dispatch {
  const u = gpu.uniform(params([['u32', s.n], ['f32', s.value]]), 'fill params');
  return perElement(gpu, 'fill', FILL, [b.dst, u], s.n);
}

// n = rows·dim is computed on the host, so the shader never multiplies two sizes per invocation.
const GATHER = /* wgsl */ `
struct P { n: u32, dim: u32 }
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${ENTRY}
  if (e >= p.n) { return; }
  let r = e / p.dim;
  dst[e] = src[u32(index[r]) * p.dim + (e - r * p.dim)];
}`;

/** dst[i] = src[index[i]] for i < rows (rows of `dim` floats). */
export function gatherRows(gpu: Gpu, s: { rows: number; dim: number }, b: { src: GPUBuffer; index: GPUBuffer; dst: GPUBuffer }): Dispatch {
  const n = s.rows * s.dim;
  const u = gpu.uniform(params([['u32', n], ['u32', s.dim]]), 'gatherRows params');
  return perElement(gpu, 'gatherRows', GATHER, [b.src, b.index, b.dst, u], n);
}
