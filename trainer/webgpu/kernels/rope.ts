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
import { type Buf, type Call, type Context, call, kernel, read, write } from '../kernel.ts';
import { ENTRY, perElement } from './prelude.ts';

/**
 * The rotation reading `src` (which is `dst` in place), with (a, b) → (a·c − b·s, b·c + a·s) forward;
 * the backward is the inverse rotation, (a·c + b·s, b·c − a·s), the transpose of an orthogonal matrix.
 */
function body(inverse: boolean, src: string): string {
  const [o1, o2] = inverse ? ['a * c + b * sn', 'b * c - a * sn'] : ['a * c - b * sn', 'b * c + a * sn'];
  return /* wgsl */ `${ENTRY}
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
  let a = ${src}[lo];
  let b = ${src}[hi];
  dst[lo] = (${o1}) * p.scale;
  dst[hi] = (${o2}) * p.scale;
}`;
}

// cosT and sinT, not cos and sin: those name WGSL's builtins.
function kernels(name: string, inverse: boolean) {
  const tables = { positions: read('array<i32>'), cosT: read(), sinT: read() };
  const params = { pairs: 'u32', half: 'u32', heads: 'u32', scale: 'f32' } as const;
  return {
    apart: kernel(name, { bindings: { src: read(), ...tables, dst: write() }, params, body: body(inverse, 'src') }),
    inPlace: kernel(`${name} in place`, { bindings: { dst: write(), ...tables }, params, body: body(inverse, 'dst') }),
  };
}

const FORWARD = kernels('ropeForward', false);
const BACKWARD = kernels('ropeBackward', true);

type Shape = { tokens: number; heads: number; headDim: number; scale: number };

function rope(ctx: Context, k: typeof FORWARD, s: Shape, src: Buf, dst: Buf, b: { positions: Buf; cos: Buf; sin: Buf }): Call {
  const label = k.apart.name;
  if (s.headDim % 2 !== 0) throw new RangeError(`${label}: headDim ${s.headDim} is odd`);
  const half = s.headDim / 2;
  const pairs = s.tokens * s.heads * half;
  const values = { pairs, half, heads: s.heads, scale: s.scale };
  const tables = { positions: b.positions, cosT: b.cos, sinT: b.sin };
  // Bytes: the tensor read and written, and the positions; the tables' rows, shared by every head of a
  // token and every token at the same position, are left out.
  const cost = { flops: 0, bytes: 16 * pairs + 4 * s.tokens };
  const workgroups = perElement(ctx, pairs);
  return src === dst
    ? call(k.inPlace, { dst, ...tables }, values, workgroups, cost, label)
    : call(k.apart, { src, ...tables, dst }, values, workgroups, cost, label);
}

/** y = rope(x)·scale; y may be x. */
export function ropeForward(ctx: Context, s: Shape, b: { x: Buf; positions: Buf; cos: Buf; sin: Buf; y: Buf }): Call {
  return rope(ctx, FORWARD, s, b.x, b.y, b);
}

/** dx = scale·rope⁻¹(dy), overwritten; dx may be dy. */
export function ropeBackward(ctx: Context, s: Shape, b: { dy: Buf; positions: Buf; cos: Buf; sin: Buf; dx: Buf }): Call {
  return rope(ctx, BACKWARD, s, b.dy, b.dx, b);
}
