/**
 * What every kernel test needs: Dawn's software adapter (skipped, saying why, where there is none),
 * tfjs on the cpu backend for the reference, seeded random data, and the error measure of the
 * issue: max |a − b| over max |b|, per tensor.
 */
import * as tf from '@tensorflow/tfjs';
import { describe } from 'vitest';
import { selectBackend } from '../../../trainer/backend.ts';
import { SOFTWARE_ENV, startWebgpu } from '../../../trainer/webgpu/device.ts';
import { Gpu } from '../../../trainer/webgpu/runtime.ts';

process.env[SOFTWARE_ENV] = 'software';
// llvmpipe would take every core for itself; CI's two are shared with the other test files.
process.env.LP_NUM_THREADS ??= '1';

let gpu: Gpu | null = null;
let why = '';
try {
  gpu = new Gpu((await startWebgpu(false)).device);
} catch (e) {
  why = (e as Error).message;
}
// The reference runs on tfjs's cpu backend; the kernels on our device.
await selectBackend('cpu');
if (gpu === null) console.warn(`WebGPU kernel tests skipped: ${why}`);

/** The software-adapter runtime, or null where there is none. */
export const softwareGpu = gpu;
/** `describe`, or `describe.skip` where no adapter exists. */
export const describeGpu = gpu === null ? describe.skip : describe;

export const TOL = 1e-4;

export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Deterministic values in [-scale, scale): a mulberry32 stream. */
export function random(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

/** A tfjs cpu tensor's values. */
export const values = (t: tf.Tensor) => t.dataSync() as Float32Array;
