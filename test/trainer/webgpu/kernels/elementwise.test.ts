/** Elementwise kernels against tfjs's cpu backend, including the 2-D grid past 65535 workgroups. */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import type { Dispatch } from '../../../../trainer/webgpu/gpu.ts';
import { add, copy, fill, gatherRows, WG } from '../../../../trainer/webgpu/kernels/elementwise.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

describeGpu('elementwise', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Dispatch[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  const SIZES = [1, 67, 256, 257, 5000];

  it.each(SIZES)('copy and fill, n %i', async (n) => {
    const xs = random(n, n, 3);
    const src = gpu.upload(xs, 'src');
    const dst = gpu.buffer((n + 3) * 4, 'dst');
    const filled = gpu.upload(new Float32Array(n + 3).fill(7), 'filled');
    await run(() => [copy(gpu, { n }, { src, dst }), fill(gpu, { n, value: -1.25 }, { dst: filled })]);
    expect(await gpu.readF32(dst, n)).toEqual(xs);
    // Bounds: nothing past n is written.
    expect([...(await gpu.readF32(dst))].slice(n)).toEqual([0, 0, 0]);
    const f = await gpu.readF32(filled);
    expect(relErr(f.subarray(0, n), values(tf.fill([n], -1.25)))).toBe(0);
    expect([...f.subarray(n)]).toEqual([7, 7, 7]);
  });

  it('copy refuses to copy a buffer onto itself', () => {
    const b = gpu.buffer(16, 'b');
    expect(() => copy(gpu, { n: 4 }, { src: b, dst: b })).toThrow(/same buffer/);
  });

  it.each(SIZES)('add, into a separate buffer and into either input, n %i', async (n) => {
    const as = random(n, n + 1, 2);
    const bs = random(n, n + 2, 2);
    const ref = tf.tidy(() => values(tf.add(tf.tensor1d(as), tf.tensor1d(bs))));
    const twice = tf.tidy(() => values(tf.add(tf.tensor1d(as), tf.tensor1d(as))));
    const out = gpu.buffer(n * 4, 'out');
    const a1 = gpu.upload(as, 'a1');
    const b1 = gpu.upload(bs, 'b1');
    const a2 = gpu.upload(as, 'a2');
    const b2 = gpu.upload(bs, 'b2');
    const both = gpu.upload(as, 'both');
    await run(() => [
      add(gpu, { n }, { a: a1, b: b1, out }),
      add(gpu, { n }, { a: a2, b: b1, out: a2 }),
      add(gpu, { n }, { a: a1, b: b2, out: b2 }),
      add(gpu, { n }, { a: both, b: both, out: both }),
    ]);
    expect(relErr(await gpu.readF32(out), ref)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(a2), ref)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(b2), ref)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(both), twice)).toBeLessThan(TOL);
    // The inputs that are not outputs are left alone.
    expect(await gpu.readF32(a1)).toEqual(as);
    expect(await gpu.readF32(b1)).toEqual(bs);
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
    const d = fill(gpu, { n, value: 3 }, { dst: gpu.buffer(4, 'probe') });
    expect(d.workgroups[1]).toBeGreaterThan(1);
    const a = gpu.buffer((n + 1) * 4, 'a');
    const b = gpu.buffer((n + 1) * 4, 'b');
    await run(() => [fill(gpu, { n, value: 3 }, { dst: a }), fill(gpu, { n, value: 0.5 }, { dst: b }), add(gpu, { n }, { a, b, out: b }), copy(gpu, { n }, { src: b, dst: a })]);
    const out = await gpu.readF32(a);
    let bad = 0;
    for (let i = 0; i < n; i++) if (out[i] !== 3.5) bad++;
    expect(bad).toBe(0);
    expect(out[n]).toBe(0);
  });
});
