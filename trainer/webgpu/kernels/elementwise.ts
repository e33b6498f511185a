/**
 * Elementwise kernels of the WebGPU engine: copy and row gather (i32 indices). One element per
 * invocation, consecutive invocations on consecutive addresses, so every access is coalesced and the
 * kernels run at memory bandwidth.
 *
 * Covered by test/trainer/webgpu/kernels/elementwise.test.ts.
 */
import { type Buf, type Call, type Context, call, kernel, read, write } from '../kernel.ts';
import { ENTRY, perElement } from './prelude.ts';

const COPY = kernel('copy', {
  bindings: { src: read(), dst: write() },
  params: { n: 'u32' },
  body: /* wgsl */ `${ENTRY}
  if (e < p.n) { dst[e] = src[e]; }
}`,
});

export function copy(ctx: Context, s: { n: number }, b: { src: Buf; dst: Buf }): Call {
  if (b.src === b.dst) throw new RangeError('copy: src and dst are the same buffer');
  return call(COPY, b, s, perElement(ctx, s.n), { flops: 0, bytes: 8 * s.n });
}

// n = rows·dim is computed on the host, so the shader never multiplies two sizes per invocation.
const GATHER = kernel('gatherRows', {
  bindings: { src: read(), index: read('array<i32>'), dst: write() },
  params: { n: 'u32', dim: 'u32' },
  body: /* wgsl */ `${ENTRY}
  if (e >= p.n) { return; }
  let r = e / p.dim;
  dst[e] = src[u32(index[r]) * p.dim + (e - r * p.dim)];
}`,
});

/** dst[i] = src[index[i]] for i < rows (rows of `dim` floats). */
export function gatherRows(ctx: Context, s: { rows: number; dim: number }, b: { src: Buf; index: Buf; dst: Buf }): Call {
  const n = s.rows * s.dim;
  return call(GATHER, b, { n, dim: s.dim }, perElement(ctx, n), { flops: 0, bytes: 8 * n + 4 * s.rows });
}
