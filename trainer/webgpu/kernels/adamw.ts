/**
 * Global-norm clipping and AdamW for every parameter, all on the device: the step's update is queued
 * behind the backward pass with no host read in between (the host reads the loss slots and the
 * squared norm once per step, after the fact, for its metrics).
 *
 * Per step:  sumSquares(gradients) → clipFactor → adamw for each parameter
 *   - sumSquares: one call per gradient buffer writes a fixed number of partial sums into a
 *     scratch buffer, then one workgroup adds them up in a fixed order into out[outIndex]: no atomics,
 *     so the norm is the same bits every run. One call per part keeps each shader to one part's
 *     binding (hundreds of gradient buffers would not fit the 8 storage buffers a stage may bind).
 *   - clipFactor: norm = √ss · invCount; factor[0] = invCount · clipScale(norm, clip), factor[1] = 1
 *     when the norm is not finite, and every adamw then leaves its parameter alone, as
 *     trainer/loop.ts's optimizerStep skips the update of an overflowed step.
 *   - adamw: trainer/optim.ts's formula (PyTorch's order) in f32, with HostAdamW's f32 scalars.
 *
 * Buffers whose length is a multiple of 4 are read as vec4 (fewer, wider loads on a memory-bound
 * kernel); the others element by element. Elementwise work is a grid-stride loop over a capped
 * number of workgroups, so no size reaches the 65535 workgroups a dimension allows, and no call
 * depends on the device's limits (the functions take the context only as every kernel's does).
 *
 * Covered by test/trainer/webgpu/kernels/adamw.test.ts.
 */
import { type Buf, type Call, type Context, call, kernel, pack, read, uniform, write } from '../kernel.ts';
import { WG, workgroupSum } from './prelude.ts';

export interface Part {
  buffer: Buf;
  count: number;
}

/** Units (f32 or vec4) per invocation before a part's sum of squares gets another workgroup. */
const UNITS_PER_THREAD = 16;
/** Enough workgroups per part to fill a large GPU, few enough that the final reduction stays small. */
const MAX_PART_GROUPS = 1024;
const MAX_ADAMW_GROUPS = 32768;

/**
 * The per-step uniform of clipFactor and adamw, which the host rewrites before each step: 12 f32
 * (48 bytes), each rounded with Math.fround from doubles as HostAdamW rounds its scalars.
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
  return pack([
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
const width = (count: number): 1 | 4 => (count > 0 && count % 4 === 0 ? 4 : 1);
const array = (w: 1 | 4) => (w === 4 ? 'array<vec4<f32>>' : 'array<f32>');

function partGroups(count: number): number {
  const units = count / width(count);
  return Math.min(Math.ceil(units / (WG * UNITS_PER_THREAD)), MAX_PART_GROUPS);
}

const partialKernel = (w: 1 | 4) =>
  kernel(`sumSquares partial ×${w}`, {
    bindings: { x: read(array(w)), partial: write() },
    params: { units: 'u32', offset: 'u32' },
    body: /* wgsl */ `${workgroupSum(WG)}
@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nwg: vec3u,
    @builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = id.x; i < p.units; i += nwg.x * ${WG}u) {
    let v = x[i];
    s = s + ${w === 4 ? 'dot(v, v)' : 'v * v'};
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    partial[p.offset + wg.x] = total;
  }
}`,
  });

const PARTIAL = { 1: partialKernel(1), 4: partialKernel(4) };

const REDUCE = kernel('sumSquares reduce', {
  bindings: { partial: read(), out: write() },
  params: { total: 'u32', outIndex: 'u32' },
  body: /* wgsl */ `${workgroupSum(WG)}
@compute @workgroup_size(${WG}) fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < p.total; i += ${WG}u) {
    s = s + partial[i];
  }
  let total = workgroupSum(lid, s);
  if (lid == 0u) {
    out[p.outIndex] = total;
  }
}`,
});

const CLIP = kernel('clipFactor', {
  bindings: { stats: read(), hyper: uniform('Hyper'), factor: write() },
  params: { index: 'u32' },
  body: /* wgsl */ `${HYPER_STRUCT}

// By the bits: a shader compiler may assume no NaN and fold an x != x test away.
fn finite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(1) fn main() {
  let ss = stats[p.index];
  let norm = sqrt(ss) * hyper.invCount;
  var scale: f32 = 1.0;
  if (hyper.clip > 0.0 && norm > hyper.clip) {
    scale = hyper.clip / norm;
  }
  factor[0] = hyper.invCount * scale;
  // ss < 0 cannot come from squares, but its sqrt would be a NaN as well.
  factor[1] = select(1.0, 0.0, finite(ss) && ss >= 0.0 && finite(norm));
}`,
});

const adamwKernel = (w: 1 | 4) =>
  kernel(`adamw ×${w}`, {
    bindings: { param: write(array(w)), grad: read(array(w)), m: write(array(w)), v: write(array(w)), factor: read(), hyper: uniform('Hyper') },
    params: { units: 'u32', decay: 'u32' },
    body: /* wgsl */ `${HYPER_STRUCT}

@compute @workgroup_size(${WG}) fn main(@builtin(global_invocation_id) id: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  if (factor[1] != 0.0) {
    return;
  }
  let scale = factor[0];
  for (var i = id.x; i < p.units; i += nwg.x * ${WG}u) {
    let g = grad[i] * scale;
    var w = param[i];
    if (p.decay != 0u) {
      w = w * hyper.decayFactor;
    }
    let mi = m[i] * hyper.beta1 + g * hyper.oneMinusBeta1;
    let vi = v[i] * hyper.beta2 + (g * g) * hyper.oneMinusBeta2;
    m[i] = mi;
    v[i] = vi;
    param[i] = w + (mi / (sqrt(vi) / hyper.bc2Sqrt + hyper.eps)) * hyper.negStepSize;
  }
}`,
  });

const ADAMW = { 1: adamwKernel(1), 4: adamwKernel(4) };

function checkPart(label: string, part: Part): void {
  if (!Number.isInteger(part.count) || part.count < 0) throw new RangeError(`${label}: count must be a non-negative integer, got ${part.count}`);
  if (part.count * 4 > part.buffer.size) throw new RangeError(`${label}: ${part.count} floats do not fit a ${part.buffer.size}-byte buffer`);
}

/** Floats the `partial` scratch of sumSquares must hold for these parts. */
export function sumSquaresPartialFloats(parts: Part[]): number {
  return parts.reduce((sum, part) => sum + partGroups(part.count), 0);
}

/**
 * out[outIndex] = Σ x² over the first `count` floats of every part: one call per non-empty part,
 * then one reduction. The partial sums are always added in the same order, so the result is
 * deterministic; their number (sumSquaresPartialFloats) is at most 1024 per part.
 */
export function sumSquares(_ctx: Context, parts: Part[], b: { partial: Buf; out: Buf; outIndex: number }): Call[] {
  if (!Number.isInteger(b.outIndex) || b.outIndex < 0 || (b.outIndex + 1) * 4 > b.out.size) {
    throw new RangeError(`sumSquares: outIndex ${b.outIndex} is outside a ${b.out.size}-byte buffer`);
  }
  const total = sumSquaresPartialFloats(parts);
  if (total * 4 > b.partial.size) throw new RangeError(`sumSquares: the partial scratch holds ${b.partial.size / 4} floats, ${total} are needed`);
  const out: Call[] = [];
  let offset = 0;
  parts.forEach((part, i) => {
    checkPart(`sumSquares part ${i}`, part);
    const groups = partGroups(part.count);
    if (groups === 0) return;
    const w = width(part.count);
    // Bytes: the part read, its partial sums written.
    out.push(call(PARTIAL[w], { x: part.buffer, partial: b.partial }, { units: part.count / w, offset }, [groups], { flops: 0, bytes: 4 * part.count + 4 * groups }));
    offset += groups;
  });
  out.push(call(REDUCE, { partial: b.partial, out: b.out }, { total, outIndex: b.outIndex }, [1], { flops: 0, bytes: 4 * total + 4 }));
  return out;
}

/**
 * factor[0] = invCount · (clip > 0 && norm > clip ? clip / norm : 1) and factor[1] = 1 when the norm
 * is not finite (else 0), with norm = √stats[sumsqIndex] · invCount. `factor` holds 2 floats; `hyper`
 * is hyperParams' uniform.
 */
export function clipFactor(_ctx: Context, b: { stats: Buf; sumsqIndex: number; hyper: Buf; factor: Buf }): Call {
  if (!Number.isInteger(b.sumsqIndex) || b.sumsqIndex < 0 || (b.sumsqIndex + 1) * 4 > b.stats.size) {
    throw new RangeError(`clipFactor: sumsqIndex ${b.sumsqIndex} is outside a ${b.stats.size}-byte buffer`);
  }
  if (b.factor.size < 8) throw new RangeError('clipFactor: factor must hold 2 floats');
  // Bytes: the squared norm read, the factor's 2 floats written.
  return call(CLIP, { stats: b.stats, hyper: b.hyper, factor: b.factor }, { index: b.sumsqIndex }, [1], { flops: 0, bytes: 12 });
}

/**
 * One AdamW update of `size` floats with g = grad · factor[0], nothing when factor[1] ≠ 0. `decay`
 * false for the parameters AdamW leaves undecayed (norm weights). `hyper` is hyperParams' uniform.
 */
export function adamw(_ctx: Context, s: { size: number; decay: boolean }, b: { param: Buf; grad: Buf; m: Buf; v: Buf; factor: Buf; hyper: Buf }): Call {
  if (!Number.isInteger(s.size) || s.size < 0) throw new RangeError(`adamw: size must be a non-negative integer, got ${s.size}`);
  for (const k of ['param', 'grad', 'm', 'v'] as const) {
    if (s.size * 4 > b[k].size) throw new RangeError(`adamw: ${k} holds ${b[k].size} bytes, ${s.size} floats need ${s.size * 4}`);
  }
  const w = width(s.size);
  const units = s.size / w;
  // Bytes, for an applied step (a skipped one, after an overflow, reads only the factor): param, grad,
  // m and v read, param, m and v written, and the factor.
  return call(ADAMW[w], b, { units, decay: s.decay ? 1 : 0 }, [Math.min(Math.ceil(units / WG), MAX_ADAMW_GROUPS)], { flops: 0, bytes: 28 * s.size + 8 });
}
