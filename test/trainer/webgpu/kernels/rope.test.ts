/** RoPE kernels against trainer/model.ts's rope() (split/neg/concat) on tfjs's cpu backend, gradients by tf.grad. */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { ropeTables } from '../../../../trainer/rope-tables.ts';
import type { Call } from '../../../../trainer/webgpu/kernel.ts';
import { ropeBackward, ropeForward } from '../../../../trainer/webgpu/kernels/rope.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

/** model.ts's rope() on [1, tokens, heads, d], with its [1, tokens, 1, d] cos/sin (each half repeated). */
function reference(x: tf.Tensor4D, positions: Int32Array, t: { cos: Float32Array; sin: Float32Array }, scale: number): tf.Tensor4D {
  const d = x.shape[3];
  const half = d / 2;
  const tokens = positions.length;
  const cos = new Float32Array(tokens * d);
  const sin = new Float32Array(tokens * d);
  positions.forEach((p, i) => {
    for (let j = 0; j < half; j++) {
      cos[i * d + j] = cos[i * d + j + half] = t.cos[p * half + j];
      sin[i * d + j] = sin[i * d + j + half] = t.sin[p * half + j];
    }
  });
  const [x1, x2] = tf.split(x, [half, half], 3);
  const rotated = tf.concat([tf.neg(x2), x1], 3);
  const y = tf.add(tf.mul(x, tf.tensor4d(cos, [1, tokens, 1, d])), tf.mul(rotated, tf.tensor4d(sin, [1, tokens, 1, d])));
  return tf.mul(y, scale) as tf.Tensor4D;
}

const CASES: Array<[number, number, number]> = [
  [37, 3, 8],
  [1, 1, 2],
  [50, 4, 64],
  [13, 5, 6],
];

describeGpu('rope', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  for (const scaled of [false, true]) {
    it.each(CASES)(`forward and backward match the reference (scaled ${scaled}), tokens %i heads %i headDim %i`, async (tokens, heads, headDim) => {
      const maxPos = 5000;
      const scale = scaled ? 1 / Math.sqrt(headDim) : 1;
      const n = tokens * heads * headDim;
      const t = ropeTables({ hidden: headDim, heads: 1, ropeBase: 10000 }, maxPos);
      // Restarting documents, a far position, the last one.
      const positions = Int32Array.from({ length: tokens }, (_, i) => (i === 1 ? maxPos - 1 : i === 2 ? 4000 : i % 11));
      const xs = random(n, tokens * 3 + heads, 2);
      const dys = random(n, tokens + headDim, 1);
      const s = { tokens, heads, headDim, scale };
      const common = { positions: gpu.upload(positions, 'positions'), cos: gpu.upload(t.cos, 'cos'), sin: gpu.upload(t.sin, 'sin') };
      const x = gpu.upload(xs, 'x');
      const y = gpu.buffer(n * 4, 'y');
      const dy = gpu.upload(dys, 'dy');
      const dx = gpu.upload(random(n, 7, 5), 'dx');
      await run(() => [ropeForward(gpu, s, { ...common, x, y }), ropeBackward(gpu, s, { ...common, dy, dx })]);

      const [yRef, dxRef] = tf.tidy(() => {
        const f = (a: tf.Tensor) => reference(a as tf.Tensor4D, positions, t, scale);
        const xt = tf.tensor4d(xs, [1, tokens, heads, headDim]);
        return [values(f(xt)), values(tf.grad(f)(xt, tf.tensor4d(dys, [1, tokens, heads, headDim])))];
      });
      expect(relErr(await gpu.readF32(y), yRef)).toBeLessThan(TOL);
      expect(relErr(await gpu.readF32(dx), dxRef)).toBeLessThan(TOL);

      // In place, y = x and dx = dy, gives the same values.
      const xy = gpu.upload(xs, 'xy');
      const dd = gpu.upload(dys, 'dd');
      await run(() => [ropeForward(gpu, s, { ...common, x: xy, y: xy }), ropeBackward(gpu, s, { ...common, dy: dd, dx: dd })]);
      expect(await gpu.readF32(xy)).toEqual(await gpu.readF32(y));
      expect(await gpu.readF32(dd)).toEqual(await gpu.readF32(dx));
    });
  }

  it('refuses an odd headDim', () => {
    const b = gpu.buffer(4, 'b');
    expect(() => ropeForward(gpu, { tokens: 1, heads: 1, headDim: 3, scale: 1 }, { x: b, positions: b, cos: b, sin: b, y: b })).toThrow(/headDim 3 is odd/);
  });
});
