/**
 * SwiGLU's elementwise half, as trainer/model.ts's Mlp computes it: act = gate·sigmoid(gate)·up.
 * The backward recomputes sigmoid(gate) rather than saving it: one exp per element costs less than
 * a tensor the size of the MLP's widest activation written and read back.
 *
 * Covered by test/trainer/webgpu/kernels/swiglu.test.ts.
 */
import { type Dispatch, type Gpu, groups, params } from '../gpu.ts';
import { ENTRY, grid, WG } from './elementwise.ts';

// 1 / (1 + exp(-g)) saturates cleanly at both ends in f32: exp overflows to +inf and gives 0, never NaN.
const SIGMOID = /* wgsl */ `fn sigmoid(g: f32) -> f32 { return 1.0 / (1.0 + exp(-g)); }`;

const FORWARD = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read_write> act: array<f32>;
@group(0) @binding(3) var<uniform> p: P;
${SIGMOID}
${ENTRY}
  if (e >= p.n) { return; }
  let g = gate[e];
  act[e] = g * sigmoid(g) * up[e];
}`;

// d/dg (g·σ(g)) = σ(g)·(1 + g·(1 − σ(g))).
const BACKWARD = /* wgsl */ `
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> gate: array<f32>;
@group(0) @binding(1) var<storage, read> up: array<f32>;
@group(0) @binding(2) var<storage, read> dact: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(4) var<storage, read_write> dup: array<f32>;
@group(0) @binding(5) var<uniform> p: P;
${SIGMOID}
${ENTRY}
  if (e >= p.n) { return; }
  let g = gate[e];
  let sg = sigmoid(g);
  let d = dact[e];
  dgate[e] = d * up[e] * sg * (1.0 + g * (1.0 - sg));
  dup[e] = d * g * sg;
}`;

/** act = gate·sigmoid(gate)·up over `n` elements. */
export function swigluForward(gpu: Gpu, s: { n: number }, b: { gate: GPUBuffer; up: GPUBuffer; act: GPUBuffer }): Dispatch {
  const u = gpu.uniform(params([['u32', s.n]]), 'swiglu params');
  return gpu.dispatch('swigluForward', gpu.pipeline('swigluForward', FORWARD), [b.gate, b.up, b.act, u], grid(gpu, groups(s.n, WG)));
}

/** dgate and dup from dact (both overwritten); gate and up are the forward's inputs. */
export function swigluBackward(
  gpu: Gpu,
  s: { n: number },
  b: { gate: GPUBuffer; up: GPUBuffer; dact: GPUBuffer; dgate: GPUBuffer; dup: GPUBuffer },
): Dispatch {
  const u = gpu.uniform(params([['u32', s.n]]), 'swiglu params');
  return gpu.dispatch('swigluBackward', gpu.pipeline('swigluBackward', BACKWARD), [b.gate, b.up, b.dact, b.dgate, b.dup, u], grid(gpu, groups(s.n, WG)));
}
