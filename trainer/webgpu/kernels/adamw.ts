/**
 * Global-norm clipping and AdamW for every parameter, all on the device: the step's update is queued
 * behind the backward pass with no host read in between (the host reads the loss slots and the
 * squared norm once per step, after the fact, for its metrics).
 *
 * Per step:  sumSquares(gradients) → clipFactor → adamw for each parameter
 *   - sumSquares: one dispatch per gradient buffer writes a fixed number of partial sums into a
 *     scratch buffer, then one workgroup adds them up in a fixed order into out[outIndex]: no atomics,
 *     so the norm is the same bits every run. One dispatch per part keeps each shader to one part's
 *     binding (hundreds of gradient buffers would not fit the 8 storage buffers a stage may bind).
 *   - clipFactor: norm = √ss · invCount; factor[0] = invCount · clipScale(norm, clip), factor[1] = 1
 *     when the norm is not finite, and every adamw then leaves its parameter alone, as
 *     trainer/loop.ts's optimizerStep skips the update of an overflowed step.
 *   - adamw: trainer/optim.ts's formula (PyTorch's order) in f32, with HostAdamW's f32 scalars.
 *
 * Buffers whose length is a multiple of 4 are read as vec4 (fewer, wider loads on a memory-bound
 * kernel); the others element by element. Elementwise work is a grid-stride loop over a capped
 * number of workgroups, so no size reaches the 65535 workgroups a dimension allows.
 *
 * Covered by test/trainer/webgpu/kernels/adamw.test.ts.
 */
import { type Binding, type Dispatch, type Gpu, params } from '../gpu.ts';
import { workgroupSum } from './prelude.ts';

export interface Part {
  buffer: GPUBuffer;
  count: number;
}

const WG = 256;
/** Units (f32 or vec4) per invocation before a part's sum of squares gets another workgroup. */
const UNITS_PER_THREAD = 16;
/** Enough workgroups per part to fill a large GPU, few enough that the final reduction stays small. */
const MAX_PART_GROUPS = 1024;
const MAX_ADAMW_GROUPS = 32768;

/**
 * The per-step uniform of clipFactor and adamw: 12 f32 (48 bytes), each rounded with Math.fround from
 * doubles as HostAdamW rounds its scalars.
 *
 *   [0] invCount      1 / scored targets of the step (0 when there were none)
 *   [1] clip          max global norm; 0 disables clipping
 *   [2] decayFactor   1 − lr·wd
 *   [3] beta1         β1
 *   [4] oneMinusBeta1 1 − β1
 *   [5] beta2         β2
 *   [6] oneMinusBeta2 1 − β2
 *   [7] eps
 *   [8] bc2Sqrt       √(1 − β2^t)
 *   [9] negStepSize   −lr / (1 − β1^t)
 *   [10], [11]        padding
 *
 * `t` is the step number after incrementing (1 for the first update), as in optim.ts.
 */
export function hyperParams(o: {
  t: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clip: number;
  invCount: number;
}): ArrayBuffer {
  return params([
    ['f32', o.invCount],
    ['f32', o.clip],
    ['f32', 1 - o.lr * o.weightDecay],
    ['f32', o.beta1],
    ['f32', 1 - o.beta1],
    ['f32', o.beta2],
    ['f32', 1 - o.beta2],
    ['f32', o.eps],
    ['f32', Math.sqrt(1 - Math.pow(o.beta2, o.t))],
    ['f32', -(o.lr / (1 - Math.pow(o.beta1, o.t)))],
    ['f32', 0],
    ['f32', 0],
  ]);
}

/** Bytes of the hyperParams uniform, for `gpu.uniform(new ArrayBuffer(HYPER_BYTES), …)` at plan time. */
export const HYPER_BYTES = 48;

const HYPER_STRUCT = /* wgsl */ `
struct Hyper {
  invCount: f32, clip: f32, decayFactor: f32,
  beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32,
  eps: f32, bc2Sqrt: f32, negStepSize: f32, pad0: f32, pad1: f32,
}`;

/**
 * vec4 where the length allows it: same arithmetic per component, a quarter of the loads. Never for
 * an empty buffer, whose 4 bytes are less than a vec4 binding's minimum size.
 */
const width = (count: number) => (count > 0 && count % 4 === 0 ? 4 : 1);
const unitType = (w: number) => (w === 4 ? 'vec4<f32>' : 'f32');

function partGroups(count: number): number {
  const units = count / width(count);
  return Math.min(Math.ceil(units / (WG * UNITS_PER_THREAD)), MAX_PART_GROUPS);
}

const partialSource = (w: number) => /* wgsl */ `
struct P { units: u32, offset: u32 }
@group(0) @binding(0) var<storage, read> x: array<${unitType(w)}>;
@group(0) @binding(1) var<storage, read_write> partial: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
const WG = ${WG}u;
${workgroupSum(WG)}

@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s: f32 = 0.0;
  for (var i = id.x; i < p.units; i += nwg.x * WG) {
    let v = x[i];
    s = s + ${w === 4 ? 'dot(v, v)' : 'v * v'};
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    partial[p.offset + wg.x] = total;
  }
}`;

const REDUCE = /* wgsl */ `
struct P { total: u32, outIndex: u32 }
@group(0) @binding(0) var<storage, read> partial: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
const WG = ${WG}u;
${workgroupSum(WG)}

@compute @workgroup_size(WG) fn main(@builtin(local_invocation_index) lid: u32) {
  var s: f32 = 0.0;
  for (var i = lid; i < p.total; i += WG) {
    s = s + partial[i];
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    out[p.outIndex] = total;
  }
}`;

const CLIP = /* wgsl */ `
${HYPER_STRUCT}
struct P { index: u32 }
@group(0) @binding(0) var<storage, read> stats: array<f32>;
@group(0) @binding(1) var<uniform> h: Hyper;
@group(0) @binding(2) var<storage, read_write> factor: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

// By the bits: a shader compiler may assume no NaN and fold an x != x test away.
fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1) fn main() {
  let ss = stats[p.index];
  let norm = sqrt(ss) * h.invCount;
  var scale: f32 = 1.0;
  if (h.clip > 0.0 && norm > h.clip) {
    scale = h.clip / norm;
  }
  factor[0] = h.invCount * scale;
  // ss < 0 cannot come from squares, but its sqrt would be a NaN as well.
  factor[1] = select(1.0, 0.0, finite(ss) && ss >= 0.0 && finite(norm));
}`;

const adamwSource = (w: number) => /* wgsl */ `
${HYPER_STRUCT}
struct P { units: u32, decay: u32 }
alias T = ${unitType(w)};
@group(0) @binding(0) var<storage, read_write> param: array<T>;
@group(0) @binding(1) var<storage, read> grad: array<T>;
@group(0) @binding(2) var<storage, read_write> m: array<T>;
@group(0) @binding(3) var<storage, read_write> v: array<T>;
@group(0) @binding(4) var<storage, read> factor: array<f32>;
@group(0) @binding(5) var<uniform> h: Hyper;
@group(0) @binding(6) var<uniform> p: P;
const WG = ${WG}u;

@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  if (factor[1] != 0.0) {
    return;
  }
  let scale = factor[0];
  for (var i = id.x; i < p.units; i += nwg.x * WG) {
    let g = grad[i] * scale;
    var w = param[i];
    if (p.decay != 0u) {
      w = w * h.decayFactor;
    }
    let mi = m[i] * h.beta1 + g * h.oneMinusBeta1;
    let vi = v[i] * h.beta2 + (g * g) * h.oneMinusBeta2;
    m[i] = mi;
    v[i] = vi;
    param[i] = w + (mi / (sqrt(vi) / h.bc2Sqrt + h.eps)) * h.negStepSize;
  }
}`;

function checkPart(label: string, part: Part): void {
  if (!Number.isInteger(part.count) || part.count < 0) throw new RangeError(`${label}: count must be a non-negative integer, got ${part.count}`);
  if (part.count * 4 > part.buffer.size) throw new RangeError(`${label}: ${part.count} floats do not fit a ${part.buffer.size}-byte buffer`);
}

/** Floats the `partial` scratch of sumSquares must hold for these parts. */
export function sumSquaresPartialFloats(parts: Part[]): number {
  return parts.reduce((sum, part) => sum + partGroups(part.count), 0);
}

/**
 * out[outIndex] = Σ x² over the first `count` floats of every part: one dispatch per non-empty part,
 * then one reduction. The partial sums are always added in the same order, so the result is
 * deterministic; their number (sumSquaresPartialFloats) is at most 1024 per part.
 */
export function sumSquares(gpu: Gpu, parts: Part[], b: { partial: GPUBuffer; out: GPUBuffer; outIndex: number }): Dispatch[] {
  if (!Number.isInteger(b.outIndex) || b.outIndex < 0 || (b.outIndex + 1) * 4 > b.out.size) {
    throw new RangeError(`sumSquares: outIndex ${b.outIndex} is outside a ${b.out.size}-byte buffer`);
  }
  const total = sumSquaresPartialFloats(parts);
  if (total * 4 > b.partial.size) throw new RangeError(`sumSquares: the partial scratch holds ${b.partial.size / 4} floats, ${total} are needed`);
  // All the parts' uniforms live in one buffer, bound at aligned offsets: one allocation, not hundreds.
  const align = gpu.device.limits.minUniformBufferOffsetAlignment;
  const block = new ArrayBuffer(Math.max(1, parts.length) * align);
  const view = new DataView(block);
  let offset = 0;
  const slots: Array<{ part: Part; at: number; groups: number }> = [];
  parts.forEach((part, i) => {
    checkPart(`sumSquares part ${i}`, part);
    const groups = partGroups(part.count);
    view.setUint32(i * align, part.count / width(part.count), true);
    view.setUint32(i * align + 4, offset, true);
    slots.push({ part, at: i * align, groups });
    offset += groups;
  });
  const u = gpu.uniform(block, 'sumSquares params');
  const out: Dispatch[] = [];
  for (const { part, at, groups } of slots) {
    if (groups === 0) continue;
    const w = width(part.count);
    const bindings: Binding[] = [part.buffer, b.partial, { buffer: u, offset: at, size: 16 }];
    out.push(gpu.dispatch('sumSquares partial', gpu.pipeline(`sumSquares partial ×${w}`, partialSource(w)), bindings, [groups]));
  }
  const r = gpu.uniform(params([['u32', total], ['u32', b.outIndex]]), 'sumSquares reduce params');
  out.push(gpu.dispatch('sumSquares reduce', gpu.pipeline('sumSquares reduce', REDUCE), [b.partial, b.out, r], [1]));
  return out;
}

/**
 * factor[0] = invCount · (clip > 0 && norm > clip ? clip / norm : 1) and factor[1] = 1 when the norm
 * is not finite (else 0), with norm = √stats[sumsqIndex] · invCount. `factor` holds 2 floats.
 */
export function clipFactor(gpu: Gpu, b: { stats: GPUBuffer; sumsqIndex: number; hyper: GPUBuffer; factor: GPUBuffer }): Dispatch {
  if (!Number.isInteger(b.sumsqIndex) || b.sumsqIndex < 0 || (b.sumsqIndex + 1) * 4 > b.stats.size) {
    throw new RangeError(`clipFactor: sumsqIndex ${b.sumsqIndex} is outside a ${b.stats.size}-byte buffer`);
  }
  if (b.factor.size < 8) throw new RangeError('clipFactor: factor must hold 2 floats');
  const u = gpu.uniform(params([['u32', b.sumsqIndex]]), 'clipFactor params');
  return gpu.dispatch('clipFactor', gpu.pipeline('clipFactor', CLIP), [b.stats, b.hyper, b.factor, u], [1]);
}

/**
 * One AdamW update of `size` floats with g = grad · factor[0], nothing when factor[1] ≠ 0. `decay`
 * false for the parameters AdamW leaves undecayed (norm weights).
 */
export function adamw(
  gpu: Gpu,
  s: { size: number; decay: boolean },
  b: { param: GPUBuffer; grad: GPUBuffer; m: GPUBuffer; v: GPUBuffer; factor: GPUBuffer; hyper: GPUBuffer },
): Dispatch {
  if (!Number.isInteger(s.size) || s.size < 0) throw new RangeError(`adamw: size must be a non-negative integer, got ${s.size}`);
  for (const k of ['param', 'grad', 'm', 'v'] as const) {
    if (s.size * 4 > b[k].size) throw new RangeError(`adamw: ${k} holds ${b[k].size} bytes, ${s.size} floats need ${s.size * 4}`);
  }
  const w = width(s.size);
  const units = s.size / w;
  const u = gpu.uniform(params([['u32', units], ['u32', s.decay ? 1 : 0]]), 'adamw params');
  const groups = Math.min(Math.ceil(units / WG), MAX_ADAMW_GROUPS);
  return gpu.dispatch('adamw', gpu.pipeline(`adamw ×${w}`, adamwSource(w)), [b.param, b.grad, b.m, b.v, b.factor, b.hyper, u], [groups]);
}
