/**
 * Rotary position embedding with HF Llama's rotate-half pairing (element j of a head with element
 * j + headDim/2), as trainer/model.ts's rope(), on [tokens, heads·headDim] with the softmax scale
 * folded in (1/sqrt(headDim) for q, 1 for k). cos and sin are the [maxPos, headDim/2] tables of
 * trainer/rope-tables.ts, which model.ts's context() reads too, so both engines rotate by
 * bit-identical tables; positions are i32 per token and must lie in [0, maxPos).
 *
 * One invocation per rotated pair: it reads both halves once and writes both, so y may be x (and dx
 * may be dy) — the in-place form binds the buffer once, read-write.
 *
 * Covered by test/trainer/webgpu/kernels/rope.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';
import { ENTRY, grid, WG } from './elementwise.ts';

/**
 * The rotation with (a, b) → (a·c − b·s, b·c + a·s) forward; the backward is the inverse rotation,
 * (a·c + b·s, b·c − a·s), the transpose of an orthogonal matrix.
 */
function shader(inverse: boolean, inPlace: boolean): string {
  const [o1, o2] = inverse ? ['a * c + b * sn', 'b * c - a * sn'] : ['a * c - b * sn', 'b * c + a * sn'];
  const io = inPlace
    ? /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<i32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<uniform> p: P;
fn load(i: u32) -> f32 { return dst[i]; }`
    : /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<i32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
fn load(i: u32) -> f32 { return src[i]; }`;
  return /* wgsl */ `
struct P { pairs: u32, half: u32, heads: u32, scale: f32 }
${io}
${ENTRY}
  if (e >= p.pairs) { return; }
  // e = (token·heads + head)·half + j: consecutive invocations take consecutive j, so each half of a
  // head is read and written contiguously.
  let th = e / p.half;
  let j = e - th * p.half;
  let lo = th * 2u * p.half + j;
  let hi = lo + p.half;
  let t = u32(positions[th / p.heads]) * p.half + j;
  let c = cosT[t];
  let sn = sinT[t];
  let a = load(lo);
  let b = load(hi);
  dst[lo] = (${o1}) * p.scale;
  dst[hi] = (${o2}) * p.scale;
}`;
}

type Shape = { tokens: number; heads: number; headDim: number; scale: number };

function rope(gpu: Gpu, label: string, inverse: boolean, s: Shape, src: GPUBuffer, dst: GPUBuffer, positions: GPUBuffer, cos: GPUBuffer, sin: GPUBuffer): Dispatch {
  if (s.headDim % 2 !== 0) throw new RangeError(`${label}: headDim ${s.headDim} is odd`);
  const half = s.headDim / 2;
  const pairs = s.tokens * s.heads * half;
  const u = gpu.uniform(params([['u32', pairs], ['u32', half], ['u32', s.heads], ['f32', s.scale]]), `${label} params`);
  const inPlace = src === dst;
  const bindings = inPlace ? [dst, positions, cos, sin, u] : [src, positions, cos, sin, dst, u];
  return gpu.dispatch(label, gpu.pipeline(label, shader(inverse, inPlace)), bindings, grid(gpu, groups(pairs, WG)));
}

/** y = rope(x)·scale; y may be x. */
export function ropeForward(gpu: Gpu, s: Shape, b: { x: GPUBuffer; positions: GPUBuffer; cos: GPUBuffer; sin: GPUBuffer; y: GPUBuffer }): Dispatch {
  return rope(gpu, 'ropeForward', false, s, b.x, b.y, b.positions, b.cos, b.sin);
}

/** dx = scale·rope⁻¹(dy), overwritten; dx may be dy. */
export function ropeBackward(gpu: Gpu, s: Shape, b: { dy: GPUBuffer; positions: GPUBuffer; cos: GPUBuffer; sin: GPUBuffer; dx: GPUBuffer }): Dispatch {
  return rope(gpu, 'ropeBackward', true, s, b.dy, b.dx, b.positions, b.cos, b.sin);
}
