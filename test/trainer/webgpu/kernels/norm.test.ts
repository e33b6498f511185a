/** RMSNorm kernels against trainer/model.ts's RMSNorm on tfjs's cpu backend, gradients by tf.grads. */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import type { Call } from '../../../../trainer/webgpu/kernel.ts';
import { rmsNormBackward, rmsNormForward, rmsNormPartialFloats } from '../../../../trainer/webgpu/kernels/norm.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

/** The reference model's RMSNorm.forward. */
const rmsNorm = (x: tf.Tensor2D, w: tf.Tensor1D, eps: number) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), eps))), w) as tf.Tensor2D;

// Odd sizes, a dim past one workgroup's 256 lanes, rows past one 32-row chunk and past 8 chunks
// (more than the reduction's lanes), and a single element.
const SHAPES: Array<[number, number]> = [
  [5, 67],
  [1, 1],
  [37, 300],
  [300, 40],
  [3, 513],
];

describeGpu('rmsNorm', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  it.each(SHAPES)('forward matches the reference, rows %i dim %i', async (rows, dim) => {
    const eps = 1e-5;
    const xs = random(rows * dim, rows * 31 + dim, 3);
    const ws = random(dim, dim + 7, 1.5);
    const x = gpu.upload(xs, 'x');
    const w = gpu.upload(ws, 'w');
    const y = gpu.buffer(rows * dim * 4, 'y');
    const rstd = gpu.buffer(rows * 4, 'rstd');
    await run(() => [rmsNormForward(gpu, { rows, dim, eps }, { x, w, y, rstd })]);
    const [yRef, rRef] = tf.tidy(() => {
      const xt = tf.tensor2d(xs, [rows, dim]);
      return [values(rmsNorm(xt, tf.tensor1d(ws), eps)), values(tf.rsqrt(tf.add(tf.mean(tf.square(xt), 1), eps)))];
    });
    expect(relErr(await gpu.readF32(y), yRef)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(rstd), rRef)).toBeLessThan(TOL);
  });

  for (const accumulateDx of [false, true]) {
    it.each(SHAPES)(`backward matches tf.grads (accumulateDx ${accumulateDx}), rows %i dim %i`, async (rows, dim) => {
      const eps = 1e-6;
      const n = rows * dim;
      const xs = random(n, rows + dim * 3, 2);
      const ws = random(dim, dim * 5 + 1, 1.5);
      const dys = random(n, rows * 7 + dim, 1);
      const dx0 = random(n, rows * 11 + dim, 1);
      const dw0 = random(dim, dim + 13, 0.5);
      const x = gpu.upload(xs, 'x');
      const w = gpu.upload(ws, 'w');
      const y = gpu.buffer(n * 4, 'y');
      const rstd = gpu.buffer(rows * 4, 'rstd');
      const dy = gpu.upload(dys, 'dy');
      const dx = gpu.upload(dx0, 'dx');
      const dw = gpu.upload(dw0, 'dw');
      // Garbage in the scratch: the backward must not rely on it starting at zero.
      const partial = gpu.upload(random(rmsNormPartialFloats(rows, dim), 99, 1e3), 'partial');
      let backward: Call[] = [];
      await run(() => {
        backward = rmsNormBackward(gpu, { rows, dim }, { x, w, rstd, dy, dx, dw, partial }, { accumulateDx });
        return [rmsNormForward(gpu, { rows, dim, eps }, { x, w, y, rstd }), ...backward];
      });

      const [gx, gw] = tf.tidy(() => {
        const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => rmsNorm(a as tf.Tensor2D, b as tf.Tensor1D, eps));
        const [a, b] = grads([tf.tensor2d(xs, [rows, dim]), tf.tensor1d(ws)], tf.tensor2d(dys, [rows, dim]));
        return [values(a), values(b)];
      });
      const dxRef = accumulateDx ? gx.map((v, i) => v + dx0[i]) : gx;
      expect(relErr(await gpu.readF32(dx), dxRef)).toBeLessThan(TOL);
      expect(relErr(await gpu.readF32(dw), gw.map((v, i) => v + dw0[i]))).toBeLessThan(TOL);

      // Replayed, as over a second micro-batch: dw adds the same gradient again, dx adds or stays.
      const dwOnce = await gpu.readF32(dw);
      const dxOnce = await gpu.readF32(dx);
      await run(() => backward);
      expect(relErr(await gpu.readF32(dw), gw.map((v, i) => v + dwOnce[i]))).toBeLessThan(TOL);
      const dxTwice = await gpu.readF32(dx);
      if (accumulateDx) expect(relErr(dxTwice, gx.map((v, i) => v + dxOnce[i]))).toBeLessThan(TOL);
      else expect(dxTwice).toEqual(dxOnce);
    });
  }

  it('sums dw in a fixed order: two runs agree bit for bit', async () => {
    const [rows, dim] = [300, 40];
    const x = gpu.upload(random(rows * dim, 1, 2), 'x');
    const w = gpu.upload(random(dim, 2), 'w');
    const dy = gpu.upload(random(rows * dim, 3), 'dy');
    const rstd = gpu.buffer(rows * 4, 'rstd');
    const y = gpu.buffer(rows * dim * 4, 'y');
    const partial = gpu.buffer(rmsNormPartialFloats(rows, dim) * 4, 'partial');
    const out: Float32Array[] = [];
    for (let k = 0; k < 2; k++) {
      const dx = gpu.buffer(rows * dim * 4, 'dx');
      const dw = gpu.buffer(dim * 4, 'dw');
      await run(() => [rmsNormForward(gpu, { rows, dim, eps: 1e-5 }, { x, w, y, rstd }), ...rmsNormBackward(gpu, { rows, dim }, { x, w, rstd, dy, dx, dw, partial }, { accumulateDx: false })]);
      out.push(await gpu.readF32(dw));
    }
    expect(out[1]).toEqual(out[0]);
  });
});
