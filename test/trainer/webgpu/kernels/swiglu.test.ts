/** SwiGLU kernels against trainer/model.ts's Mlp activation on tfjs's cpu backend, gradients by tf.grads. */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import type { Call } from '../../../../trainer/webgpu/kernel.ts';
import { swigluBackward, swigluForward } from '../../../../trainer/webgpu/kernels/swiglu.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

const swiglu = (gate: tf.Tensor, up: tf.Tensor) => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up);

describeGpu('swiglu', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  it.each([1, 67, 256, 1000, 4099])('forward and backward match the reference, n %i', async (n) => {
    // Wide enough that sigmoid saturates at both ends.
    const gs = random(n, n + 1, 12);
    const us = random(n, n + 2, 2);
    const ds = random(n, n + 3, 1);
    const gate = gpu.upload(gs, 'gate');
    const up = gpu.upload(us, 'up');
    const dact = gpu.upload(ds, 'dact');
    const act = gpu.buffer(n * 4, 'act');
    // Non-zero starts: the backward overwrites.
    const dgate = gpu.upload(random(n, 5, 9), 'dgate');
    const dup = gpu.upload(random(n, 6, 9), 'dup');
    await run(() => [swigluForward(gpu, { n }, { gate, up, act }), swigluBackward(gpu, { n }, { gate, up, dact, dgate, dup })]);

    const [aRef, gRef, uRef] = tf.tidy(() => {
      const g = tf.tensor1d(gs);
      const u = tf.tensor1d(us);
      const [dg, du] = tf.grads(swiglu)([g, u], tf.tensor1d(ds));
      return [values(swiglu(g, u)), values(dg), values(du)];
    });
    expect(relErr(await gpu.readF32(act), aRef)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(dgate), gRef)).toBeLessThan(TOL);
    expect(relErr(await gpu.readF32(dup), uRef)).toBeLessThan(TOL);
  });

  it('stays finite where sigmoid saturates', async () => {
    const gs = Float32Array.from([-200, -90, -30, 0, 30, 90, 200]);
    const n = gs.length;
    const gate = gpu.upload(gs, 'gate');
    const up = gpu.upload(new Float32Array(n).fill(1), 'up');
    const dact = gpu.upload(new Float32Array(n).fill(1), 'dact');
    const act = gpu.buffer(n * 4, 'act');
    const dgate = gpu.buffer(n * 4, 'dgate');
    const dup = gpu.buffer(n * 4, 'dup');
    await run(() => [swigluForward(gpu, { n }, { gate, up, act }), swigluBackward(gpu, { n }, { gate, up, dact, dgate, dup })]);
    for (const out of [await gpu.readF32(act), await gpu.readF32(dgate), await gpu.readF32(dup)]) {
      expect(out.every(Number.isFinite)).toBe(true);
    }
  });
});
