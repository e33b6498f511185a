/** The kernel runtime: buffers, pipelines compiled once, calls bound and replayed, reads. */
import { expect, it } from 'vitest';
import { call, kernel, read, write } from '../../../trainer/webgpu/kernel.ts';
import { describeGpu, softwareGpu } from './harness.ts';

const AXPY = kernel('axpy', {
  bindings: { x: read(), y: write() },
  params: { n: 'u32', a: 'f32' },
  body: /* wgsl */ `
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  if (id.x < p.n) { y[id.x] = y[id.x] + p.a * x[id.x]; }
}`,
});

const cost = { flops: 0, bytes: 0 };

describeGpu('Gpu', () => {
  const gpu = softwareGpu!;

  it('binds a call once, replays it, and reads the result back', async () => {
    const n = 1000;
    const x = gpu.upload(Float32Array.from({ length: n }, (_, i) => i), 'x');
    const y = gpu.buffer(n * 4, 'y');
    const d = gpu.bind(call(AXPY, { x, y }, { n, a: 0.5 }, [Math.ceil(n / 64)], cost));
    gpu.run([d, d]);
    const out = await gpu.readF32(y);
    expect(out[0]).toBe(0);
    expect(out[999]).toBe(999);
    expect(gpu.pipeline('axpy', AXPY.code)).toBe(d.pipeline);
    const before = gpu.bytes().now;
    gpu.destroy(y);
    expect(gpu.bytes().now).toBe(before - 4000);
  });

  it('binds planned buffers through a resolver', async () => {
    const x = gpu.upload(Float32Array.of(1, 2, 3, 4), 'x');
    const y = gpu.buffer(16, 'y');
    const planned = { x: { label: 'planned x', size: 16 }, y: { label: 'planned y', size: 16 } };
    const real = new Map<unknown, GPUBuffer>([[planned.x, x], [planned.y, y]]);
    gpu.run([gpu.bind(call(AXPY, planned, { n: 4, a: 2 }, [1], cost), (b) => real.get(b)!)]);
    expect(await gpu.readF32(y)).toEqual(Float32Array.of(2, 4, 6, 8));
  });

  it('reads every step through one staging buffer: each read sees the work submitted before it', async () => {
    const n = 5;
    const x = gpu.upload(Float32Array.of(1, 2, 3, 4, 5, 6), 'x');
    const y = gpu.buffer(6 * 4, 'y');
    const d = gpu.bind(call(AXPY, { x, y }, { n: 6, a: 1 }, [1], cost));
    const before = gpu.bytes().now;
    // Its one staging buffer, held (and counted) for as long as the Gpu.
    const readStats = gpu.f32Reader(n, 'probe');
    expect(gpu.bytes().now).toBe(before + n * 4);
    for (const times of [1, 2, 3]) {
      gpu.run([d]);
      expect(await readStats(y)).toEqual(Float32Array.of(1, 2, 3, 4, 5).map((v) => v * times));
    }
  });

  it('refuses a buffer larger than the device allows, naming it', () => {
    expect(() => gpu.buffer(gpu.device.limits.maxBufferSize + 4, 'huge')).toThrow(/huge: a \d+-byte buffer is larger than this GPU's maximum/);
  });
});
