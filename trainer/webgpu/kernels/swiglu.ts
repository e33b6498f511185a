/**
 * SwiGLU's elementwise half, as trainer/model.ts's Mlp computes it: act = gate·sigmoid(gate)·up.
 * The backward recomputes sigmoid(gate) rather than saving it: one exp per element costs less than
 * a tensor the size of the MLP's widest activation written and read back.
 *
 * Covered by test/trainer/webgpu/kernels/swiglu.test.ts.
 */
import { type Buf, type Call, type Context, call, kernel, read, write } from '../kernel.ts';
import { ENTRY, perElement } from './prelude.ts';

// 1 / (1 + exp(-g)) saturates cleanly at both ends in f32: exp overflows to +inf and gives 0, never NaN.
const SIGMOID = /* wgsl */ `fn sigmoid(g: f32) -> f32 { return 1.0 / (1.0 + exp(-g)); }`;

const FORWARD = kernel('swigluForward', {
  bindings: { gate: read(), up: read(), act: write() },
  params: { n: 'u32' },
  body: /* wgsl */ `${SIGMOID}
${ENTRY}
  if (e >= p.n) { return; }
  let g = gate[e];
  act[e] = g * sigmoid(g) * up[e];
}`,
});

// d/dg (g·σ(g)) = σ(g)·(1 + g·(1 − σ(g))).
const BACKWARD = kernel('swigluBackward', {
  bindings: { gate: read(), up: read(), dact: read(), dgate: write(), dup: write() },
  params: { n: 'u32' },
  body: /* wgsl */ `${SIGMOID}
${ENTRY}
  if (e >= p.n) { return; }
  let g = gate[e];
  let sg = sigmoid(g);
  let d = dact[e];
  dgate[e] = d * up[e] * sg * (1.0 + g * (1.0 - sg));
  dup[e] = d * g * sg;
}`,
});

/** act = gate·sigmoid(gate)·up over `n` elements. */
export function swigluForward(ctx: Context, s: { n: number }, b: { gate: Buf; up: Buf; act: Buf }): Call {
  return call(FORWARD, b, s, perElement(ctx, s.n), { flops: 0, bytes: 12 * s.n });
}

/** dgate and dup from dact (both overwritten); gate and up are the forward's inputs. */
export function swigluBackward(ctx: Context, s: { n: number }, b: { gate: Buf; up: Buf; dact: Buf; dgate: Buf; dup: Buf }): Call {
  return call(BACKWARD, b, s, perElement(ctx, s.n), { flops: 0, bytes: 20 * s.n });
}
