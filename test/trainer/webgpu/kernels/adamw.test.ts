/**
 * Clipping and AdamW on the device against the host: sumSquares over parts of odd and vec4-sized
 * lengths against a sum in doubles (and the same bits when replayed); clipFactor below and above the
 * clip, with clipping off, and the skip flag for NaN and Inf; three whole steps (sumSquares →
 * clipFactor → adamw in one pass) against trainer/optim.ts's HostAdamW fed exactly as trainer/loop.ts's
 * optimizerStep feeds it, with decay on and off, clipping in some steps and not others; and a step
 * whose gradient overflows leaving parameters and moments bit for bit as they were.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Param } from '../../../../trainer/model.ts';
import { clipScale, HostAdamW, squaredNorm } from '../../../../trainer/optim.ts';
import { adamw, clipFactor, hyperParams, sumSquares, sumSquaresPartialFloats } from '../../../../trainer/webgpu/kernels/adamw.ts';
import { describeGpu, random, relErr, softwareGpu, TOL } from '../harness.ts';

const OPTS = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

describeGpu('sumSquares', () => {
  const gpu = softwareGpu!;

  it('sums the squares of every part into one slot, the same bits on every replay', async () => {
    // Scalar and vec4 parts, several workgroups for the larger ones, and an empty one.
    const sizes = [1, 7, 1000, 10007, 20000, 0, 12];
    const data = sizes.map((n, i) => random(n, 100 + i, 3));
    const parts = data.map((d, i) => ({ buffer: d.length > 0 ? gpu.upload(d, `part ${i}`) : gpu.buffer(4, `part ${i}`), count: d.length }));
    const partial = gpu.buffer(sumSquaresPartialFloats(parts) * 4, 'partial');
    const out = gpu.upload(new Float32Array([5, 6, 7, 8]), 'out');
    const run = sumSquares(gpu, parts, { partial, out, outIndex: 2 });

    let want = 0;
    for (const d of data) for (const x of d) want += x * x;
    gpu.run(run);
    const first = await gpu.readF32(out);
    expect(relErr([first[2]], [want])).toBeLessThan(TOL);
    expect([first[0], first[1], first[3]]).toEqual([5, 6, 8]);
    gpu.run(run);
    expect((await gpu.readF32(out))[2]).toBe(first[2]);
  });
});

describeGpu('clipFactor', () => {
  const gpu = softwareGpu!;

  it('scales by 1/count and the clip, and flags a norm that is not finite', async () => {
    const stats = gpu.buffer(3 * 4, 'stats');
    const h = (clip: number, invCount: number) => hyperParams({ t: 1, lr: 1e-3, ...OPTS, clip, invCount });
    const hyper = gpu.uniform(h(0, 0), 'hyper');
    const factor = gpu.buffer(2 * 4, 'factor');
    const d = clipFactor(gpu, { stats, sumsqIndex: 1, hyper, factor });

    const cases: Array<{ ss: number; clip: number; invCount: number; want: [number, number] }> = [
      { ss: 4, clip: 2, invCount: 0.5, want: [0.5, 0] }, // norm 1, below the clip
      { ss: 400, clip: 2, invCount: 0.5, want: [0.5 * (2 / 10), 0] }, // norm 10, clipped to 2
      { ss: 400, clip: 0, invCount: 0.5, want: [0.5, 0] }, // clipping off
      { ss: 400, clip: 2, invCount: 0, want: [0, 0] }, // no targets: a zero gradient, as the loop applies it
      { ss: NaN, clip: 2, invCount: 0.5, want: [NaN, 1] },
      { ss: Infinity, clip: 2, invCount: 0.5, want: [NaN, 1] },
      { ss: Infinity, clip: 0, invCount: 0, want: [NaN, 1] },
    ];
    for (const c of cases) {
      gpu.write(stats, new Float32Array([123, c.ss, 456]));
      gpu.write(hyper, h(c.clip, c.invCount));
      gpu.run([d]);
      const [f, skip] = await gpu.readF32(factor);
      // The host's decision, in doubles, as optimizerStep makes it.
      const norm = Math.sqrt(c.ss) * c.invCount;
      expect(skip, `ss ${c.ss}`).toBe(Number.isFinite(norm) ? 0 : 1);
      expect(skip).toBe(c.want[1]);
      if (skip === 0) {
        expect(relErr([f], [c.invCount * clipScale(norm, c.clip)])).toBeLessThan(1e-6);
        expect(relErr([f], [c.want[0]])).toBeLessThan(1e-6);
      }
    }
  });
});

describeGpu('adamw', () => {
  const gpu = softwareGpu!;

  it('follows HostAdamW over three clipped and unclipped steps, and a skipped step changes nothing', async () => {
    // Scalar and vec4 paths, each with decay on and off.
    const shapes = [
      { size: 1001, decay: true },
      { size: 36, decay: false },
      { size: 515, decay: false },
      { size: 1024, decay: true },
    ];
    const init = shapes.map((s, i) => random(s.size, 200 + i, 0.5));
    const params: Param[] = shapes.map((s, i) => ({ name: `p${i}`, variable: tf.variable(tf.tensor1d(init[i]), false), decay: s.decay }));
    const host = new HostAdamW(params, OPTS);

    const param = init.map((d, i) => gpu.upload(d, `param ${i}`));
    const grad = shapes.map((s, i) => gpu.buffer(s.size * 4, `grad ${i}`));
    const m = shapes.map((s, i) => gpu.buffer(s.size * 4, `m ${i}`));
    const v = shapes.map((s, i) => gpu.buffer(s.size * 4, `v ${i}`));
    const parts = grad.map((buffer, i) => ({ buffer, count: shapes[i].size }));
    const partial = gpu.buffer(sumSquaresPartialFloats(parts) * 4, 'partial');
    const stats = gpu.buffer(4 * 4, 'stats');
    const factor = gpu.buffer(2 * 4, 'factor');
    const clip = 1;
    const hyper = gpu.uniform(hyperParams({ t: 1, lr: 0, ...OPTS, clip, invCount: 0 }), 'hyper');
    const step = [
      ...sumSquares(gpu, parts, { partial, out: stats, outIndex: 3 }),
      clipFactor(gpu, { stats, sumsqIndex: 3, hyper, factor }),
      ...shapes.map((s, i) => adamw(gpu, s, { param: param[i], grad: grad[i], m: m[i], v: v[i], factor, hyper })),
    ];

    // Gradients of summed losses: large enough at scale 20 and 5 that the mean's norm is clipped, not at 2.
    const steps = [
      { scale: 20, count: 50, lr: 1e-2 },
      { scale: 2, count: 80, lr: 8e-3 },
      { scale: 5, count: 120, lr: 5e-3 },
    ];
    let clipped = 0;
    for (const [k, st] of steps.entries()) {
      const g = shapes.map((s, i) => random(s.size, 1000 * (k + 1) + i, st.scale));
      g.forEach((d, i) => gpu.write(grad[i], d));
      gpu.write(hyper, hyperParams({ t: k + 1, lr: st.lr, ...OPTS, clip, invCount: 1 / st.count }));
      gpu.run(step);

      // trainer/loop.ts's optimizerStep, on the host.
      const gt = g.map((d) => tf.tensor1d(d));
      const ss = squaredNorm(gt);
      const scale = 1 / st.count;
      const norm = Math.sqrt(ss.dataSync()[0]) * scale;
      ss.dispose();
      if (norm > clip) clipped++;
      const scaled = gt.map((t) => tf.tidy(() => t.mul(scale * clipScale(norm, clip))));
      host.apply(scaled, st.lr);
      tf.dispose([...gt, ...scaled]);
    }
    expect(clipped).toBe(2);

    const state = await host.state();
    for (let i = 0; i < shapes.length; i++) {
      expect(relErr(await gpu.readF32(param[i]), params[i].variable.dataSync() as Float32Array), `param ${i}`).toBeLessThan(TOL);
      expect(relErr(await gpu.readF32(m[i]), state.m[i]), `m ${i}`).toBeLessThan(TOL);
      expect(relErr(await gpu.readF32(v[i]), state.v[i]), `v ${i}`).toBeLessThan(TOL);
    }

    // An overflowed gradient: the whole update is skipped.
    const before = await Promise.all([...param, ...m, ...v].map((b) => gpu.readF32(b)));
    const bad = random(shapes[0].size, 9, 1);
    bad[17] = Infinity;
    gpu.write(grad[0], bad);
    gpu.write(hyper, hyperParams({ t: 4, lr: 1e-2, ...OPTS, clip, invCount: 1 / 50 }));
    gpu.run(step);
    expect((await gpu.readF32(factor))[1]).toBe(1);
    const after = await Promise.all([...param, ...m, ...v].map((b) => gpu.readF32(b)));
    after.forEach((a, i) => expect(a).toEqual(before[i]));

    host.dispose();
    params.forEach((p) => p.variable.dispose());
  });
});

describe('hyperParams', () => {
  it('packs the f32 scalars HostAdamW derives in doubles, in the documented order', () => {
    const o = { t: 3, lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1, invCount: 1 / 4096 };
    const b = hyperParams(o);
    expect(b.byteLength).toBe(48);
    const f = Math.fround;
    expect(Array.from(new Float32Array(b))).toEqual([
      f(o.invCount),
      f(o.clip),
      f(1 - o.lr * o.weightDecay),
      f(o.beta1),
      f(1 - o.beta1),
      f(o.beta2),
      f(1 - o.beta2),
      f(o.eps),
      f(Math.sqrt(1 - Math.pow(o.beta2, o.t))),
      f(-(o.lr / (1 - Math.pow(o.beta1, o.t)))),
      0,
      0,
    ]);
  });
});
