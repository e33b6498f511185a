/** The kernel runtime: buffers, pipelines compiled once, dispatches replayed, reads. */
import { describe, expect, it } from 'vitest';
import { params } from '../../../trainer/webgpu/gpu.ts';
import { describeGpu, softwareGpu } from './harness.ts';

const AXPY = /* wgsl */ `
struct P { n: u32, a: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < p.n) { y[id.x] = y[id.x] + p.a * x[id.x]; }
}`;

describeGpu('Gpu', () => {
  const gpu = softwareGpu!;

  it('runs a dispatch list, replays it, and reads the result back', async () => {
    const n = 1000;
    const x = gpu.upload(Float32Array.from({ length: n }, (_, i) => i), 'x');
    const y = gpu.buffer(n * 4, 'y');
    const u = gpu.uniform(params([['u32', n], ['f32', 0.5]]), 'p');
    const d = gpu.dispatch('axpy', gpu.pipeline('axpy', AXPY), [x, y, u], [Math.ceil(n / 64)]);
    gpu.run([d, d]);
    const out = await gpu.readF32(y);
    expect(out[0]).toBe(0);
    expect(out[999]).toBe(999);
    expect(gpu.pipeline('axpy', AXPY)).toBe(d.pipeline);
    const before = gpu.bytes().now;
    gpu.destroy(y);
    expect(gpu.bytes().now).toBe(before - 4000);
  });

  it('reads every step through one staging buffer: each read sees the work submitted before it', async () => {
    const n = 5;
    const x = gpu.upload(Float32Array.of(1, 2, 3, 4, 5, 6), 'x');
    const y = gpu.buffer(6 * 4, 'y');
    const d = gpu.dispatch('axpy', gpu.pipeline('axpy', AXPY), [x, y, gpu.uniform(params([['u32', 6], ['f32', 1]]), 'p')], [1]);
    const before = gpu.bytes().now;
    // Its one staging buffer, held (and counted) for as long as the Gpu.
    const read = gpu.f32Reader(n, 'probe');
    expect(gpu.bytes().now).toBe(before + n * 4);
    for (const times of [1, 2, 3]) {
      gpu.run([d]);
      expect(await read(y)).toEqual(Float32Array.of(1, 2, 3, 4, 5).map((v) => v * times));
    }
  });

  it('refuses a buffer larger than the device allows, naming it', () => {
    expect(() => gpu.buffer(gpu.device.limits.maxBufferSize + 4, 'huge')).toThrow(/huge: a \d+-byte buffer is larger than this GPU's maximum/);
  });
});

describe('params', () => {
  it('packs u32, i32 and f32 fields little-endian into a 16-byte multiple', () => {
    const b = params([['u32', 7], ['i32', -2], ['f32', 1.5]]);
    expect(b.byteLength).toBe(16);
    const v = new DataView(b);
    expect([v.getUint32(0, true), v.getInt32(4, true), v.getFloat32(8, true)]).toEqual([7, -2, 1.5]);
  });
});
