/** Elementwise kernels against tfjs's cpu backend, including the 2-D grid past 65535 workgroups. */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import type { Call } from '../../../../trainer/webgpu/kernel.ts';
import { copy, gatherRows } from '../../../../trainer/webgpu/kernels/elementwise.ts';
import { WG } from '../../../../trainer/webgpu/kernels/prelude.ts';
import { describeGpu, random, relErr, softwareGpu, values } from '../harness.ts';

describeGpu('elementwise', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  const SIZES = [1, 67, 256, 257, 5000];

  it.each(SIZES)('copy, n %i', async (n) => {
    const xs = random(n, n, 3);
    const src = gpu.upload(xs, 'src');
    const dst = gpu.buffer((n + 3) * 4, 'dst');
    await run(() => [copy(gpu, { n }, { src, dst })]);
    expect(await gpu.readF32(dst, n)).toEqual(xs);
    // Bounds: nothing past n is written.
    expect([...(await gpu.readF32(dst))].slice(n)).toEqual([0, 0, 0]);
  });

  it('copy refuses to copy a buffer onto itself', () => {
    const b = gpu.buffer(16, 'b');
    expect(() => copy(gpu, { n: 4 }, { src: b, dst: b })).toThrow(/same buffer/);
  });

  it.each([
    [5, 67, 9],
    [1, 1, 1],
    [40, 300, 64],
  ])('gatherRows, rows %i dim %i of %i', async (rows, dim, srcRows) => {
    const ss = random(srcRows * dim, rows + dim, 1);
    // Indices repeat, as the tokens of a batch do.
    const gi = Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % srcRows);
    const src = gpu.upload(ss, 'src');
    const gathered = gpu.buffer(rows * dim * 4, 'gathered');
    await run(() => [gatherRows(gpu, { rows, dim }, { src, index: gpu.upload(gi, 'gi'), dst: gathered })]);
    const gRef = tf.tidy(() => values(tf.gather(tf.tensor2d(ss, [srcRows, dim]), tf.tensor1d(gi, 'int32'))));
    expect(relErr(await gpu.readF32(gathered), gRef)).toBe(0);
  });

  it('covers more than 65535 workgroups through the 2-D grid', async () => {
    const max = gpu.device.limits.maxComputeWorkgroupsPerDimension;
    const n = max * WG + 300;
    const src = gpu.upload(Float32Array.from({ length: n + 1 }, (_, i) => (i % 1000) + 1), 'src');
    const dst = gpu.buffer((n + 1) * 4, 'dst');
    const c = copy(gpu, { n }, { src, dst });
    expect(c.workgroups[1]).toBeGreaterThan(1);
    await run(() => [c]);
    const out = await gpu.readF32(dst);
    let bad = 0;
    for (let i = 0; i < n; i++) if (out[i] !== (i % 1000) + 1) bad++;
    expect(bad).toBe(0);
    expect(out[n]).toBe(0);
  });
});
