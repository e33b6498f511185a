import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { AdamW, accumulate, clipScale, type AdamWOptions } from '../../trainer/optim.ts';
import { normOf as globalNorm } from './helpers.ts';
import { HostAdamW } from '../../trainer/optim.ts';
import { learningRate } from '../../trainer/schedule.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

const created: tf.Tensor[] = [];
afterEach(() => {
  for (const t of created.splice(0)) if (!t.isDisposed) t.dispose();
});
function keep<T extends tf.Tensor>(t: T): T {
  created.push(t);
  return t;
}

/** Float32 results against double-precision expectations: a few ulps at magnitude ~1. */
function expectClose(actual: ArrayLike<number>, expected: number[], tol = 2e-6): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]), `element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(
      tol * Math.max(1, Math.abs(expected[i])),
    );
  }
}

const OPTS: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 };

/** torch.optim.AdamW's update, in doubles. */
function referenceAdamW(p0: number[], grads: number[][], lr: number, o: AdamWOptions, decay: boolean): number[][] {
  const p = p0.slice();
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  const out: number[][] = [];
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      if (decay) p[i] -= lr * o.weightDecay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const mHat = m[i] / (1 - o.beta1 ** t);
      const vHat = v[i] / (1 - o.beta2 ** t);
      p[i] -= (lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
    out.push(p.slice());
  });
  return out;
}

describe('AdamW', () => {
  const p0 = [1.0, -2.0];
  const grads = [
    [0.5, -1.0],
    [-0.25, 2.0],
    [1.0, 0.0],
  ];
  const lr = 0.1;

  function run(decay: boolean): number[][] {
    const variable = keep(tf.variable(tf.tensor1d(p0)));
    const opt = new AdamW([{ name: 'w', variable, decay }], OPTS);
    const seen: number[][] = [];
    for (const g of grads) {
      const gt = keep(tf.tensor1d(g));
      opt.apply([gt], lr);
      seen.push(Array.from(variable.dataSync()));
    }
    opt.dispose();
    return seen;
  }

  it('matches the hand-computed first step: p·(1 − lr·wd) − lr·g/(|g| + eps)', () => {
    // m̂ = g and v̂ = g² on step 1, so the Adam part is lr·sign(g) (up to eps).
    const withDecay = run(true);
    expectClose(withDecay[0], [1 * (1 - 0.1 * 0.05) - 0.1, -2 * (1 - 0.1 * 0.05) + 0.1]); // [0.895, -1.89]
    const noDecay = run(false);
    expectClose(noDecay[0], [0.9, -1.9]);
  });

  it('matches the formula worked in doubles for three steps, with and without decay', () => {
    const expDecay = referenceAdamW(p0, grads, lr, OPTS, true);
    const expPlain = referenceAdamW(p0, grads, lr, OPTS, false);
    // Step 2 written out: m = [0.02, 0.11], v = [0.015, 0.2475], 1 − β1² = 0.19, 1 − β2² = 0.0975.
    const step2 = (m: number, v: number) => (0.1 * (m / 0.19)) / (Math.sqrt(v / 0.0975) + 1e-8);
    // Step 1 left p = p0 − 0.1·g/(|g| + 1e-8) (0.9 and −1.9 but for eps).
    const p1 = [1 - 0.05 / (0.5 + 1e-8), -2 + 0.1 / (1 + 1e-8)];
    expect(expPlain[1][0]).toBeCloseTo(p1[0] - step2(0.02, 0.015), 12);
    expect(expPlain[1][1]).toBeCloseTo(p1[1] - step2(0.11, 0.2475), 12);
    expect(expPlain[1][0]).toBeCloseTo(0.8731630579, 9);
    const withDecay = run(true);
    const noDecay = run(false);
    for (let k = 0; k < grads.length; k++) {
      expectClose(withDecay[k], expDecay[k]);
      expectClose(noDecay[k], expPlain[k]);
    }
    // Decay made a difference where it applied.
    expect(Math.abs(withDecay[2][0] - noDecay[2][0])).toBeGreaterThan(1e-3);
  });

  it('decays only the parameters marked decay: true', () => {
    const a = keep(tf.variable(tf.tensor1d([3, 3])));
    const b = keep(tf.variable(tf.tensor1d([3, 3])));
    const opt = new AdamW(
      [
        { name: 'linear.weight', variable: a, decay: true },
        { name: 'norm.weight', variable: b, decay: false },
      ],
      { ...OPTS, weightDecay: 0.5 },
    );
    // Zero gradients: the Adam part is 0 / (0 + eps) = 0, so only decay can move a parameter.
    opt.apply([keep(tf.zeros([2])), keep(tf.zeros([2]))], 0.1);
    expectClose(a.dataSync(), [3 * 0.95, 3 * 0.95]);
    expect(Array.from(b.dataSync())).toEqual([3, 3]);
    opt.dispose();
  });

  it('keeps memory tidy: no tensors left behind by apply, state or load', async () => {
    const w = keep(tf.variable(tf.randomNormal([4, 4], 0, 1, 'float32', 1)));
    const opt = new AdamW([{ name: 'w', variable: w, decay: true }], OPTS);
    const g = keep(tf.randomNormal([4, 4], 0, 1, 'float32', 2));
    opt.apply([g], 1e-3);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) opt.apply([g], 1e-3);
    opt.load((await opt.state()));
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before - 2);
    expect(() => opt.apply([g], 1e-3)).toThrow(/dispose/);
  });

  it('state() returns copies and load() checks what it is given', async () => {
    const w = keep(tf.variable(tf.tensor2d([[1, 2, 3], [4, 5, 6]])));
    const opt = new AdamW([{ name: 'w', variable: w, decay: true }], OPTS);
    opt.apply([keep(tf.ones([2, 3]))], 0.01);
    const s = (await opt.state());
    expect(s.step).toBe(1);
    expect(s.m[0]).toBeInstanceOf(Float32Array);
    expect(s.m[0].length).toBe(6);
    s.m[0][0] = 123;
    expect((await opt.state()).m[0][0]).not.toBe(123);

    const good = (await opt.state());
    expect(() => opt.load({ ...good, m: [] })).toThrow(/'m' arrays for 1 parameters/);
    expect(() => opt.load({ ...good, v: [new Float32Array(5)] })).toThrow(/'v' of w has 5 values, the parameter \[2,3\] has 6/);
    expect(() => opt.load({ ...good, step: 1.5 })).toThrow(/step/);
    expect(() => opt.load({ ...good, m: [new Float64Array(6) as unknown as Float32Array] })).toThrow(/Float32Array/);
    // A rejected state left the optimizer as it was.
    expect(Array.from((await opt.state()).m[0])).toEqual(Array.from(good.m[0]));
    expect(() => opt.apply([keep(tf.ones([3, 2]))], 0.01)).toThrow(/shape/);
    expect(() => opt.apply([], 0.01)).toThrow(/0 gradients for 1 parameters/);
    opt.dispose();
  });

  it('continues bitwise-identically after state() → load() into a fresh optimizer', async () => {
    const shapes = [[3, 4], [5]];
    const decays = [true, false];
    const total = 10;
    const cut = 4;
    const sched = { lr: 4e-3, minLr: 4e-4, warmup: 0.2 };

    // Deterministic, parameter-dependent gradients: (p − target) plus fixed noise per step.
    let seed = 12345;
    const noise = Array.from({ length: total }, () =>
      shapes.map((s) => {
        const n = s.reduce((a, b) => a * b, 1);
        const a = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          a[i] = (seed / 2 ** 32 - 0.5) * 0.3;
        }
        return a;
      }),
    );
    const targets = shapes.map((s, j) => tf.tidy(() => tf.fill(s, j === 0 ? 0.7 : -0.3)));
    created.push(...targets);

    function stepOnce(vars: tf.Variable[], opt: AdamW, step: number): Float32Array {
      const grads = tf.tidy(() => vars.map((v, j) => tf.add(tf.sub(v, targets[j]), tf.tensor(noise[step][j], shapes[j]))));
      const loss = tf.tidy(() => tf.addN(vars.map((v, j) => tf.sum(tf.square(tf.sub(v, targets[j]))))));
      const out = Float32Array.from(loss.dataSync() as Float32Array);
      loss.dispose();
      const scale = clipScale(globalNorm(grads), 1.0);
      const clipped = tf.tidy(() => grads.map((g) => tf.mul(g, scale)));
      opt.apply(clipped, learningRate(step, total, sched));
      tf.dispose([...grads, ...clipped]);
      return out;
    }
    function init(): tf.Variable[] {
      return shapes.map((s, j) => keep(tf.variable(tf.randomNormal(s, 0, 1, 'float32', 7 + j))));
    }
    const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

    const varsA = init();
    const optA = new AdamW(varsA.map((variable, j) => ({ name: `p${j}`, variable, decay: decays[j] })), OPTS);
    const lossesA: number[] = [];
    for (let s = 0; s < total; s++) lossesA.push(...bits(stepOnce(varsA, optA, s)));

    const varsB = init();
    const optB = new AdamW(varsB.map((variable, j) => ({ name: `p${j}`, variable, decay: decays[j] })), OPTS);
    const lossesB: number[] = [];
    for (let s = 0; s < cut; s++) lossesB.push(...bits(stepOnce(varsB, optB, s)));
    const saved = (await optB.state());
    const savedParams = varsB.map((v) => Float32Array.from(v.dataSync() as Float32Array));
    optB.dispose();
    tf.dispose(varsB);

    const varsC = savedParams.map((a, j) => keep(tf.variable(tf.tensor(a, shapes[j]))));
    const optC = new AdamW(varsC.map((variable, j) => ({ name: `p${j}`, variable, decay: decays[j] })), OPTS);
    optC.load(saved);
    expect((await optC.state()).step).toBe(cut);
    for (let s = cut; s < total; s++) lossesB.push(...bits(stepOnce(varsC, optC, s)));

    expect(lossesB).toEqual(lossesA);
    for (let j = 0; j < shapes.length; j++) {
      expect(bits(varsC[j].dataSync() as Float32Array)).toEqual(bits(varsA[j].dataSync() as Float32Array));
    }
    const sa = (await optA.state());
    const sc = (await optC.state());
    expect(sc.step).toBe(sa.step);
    for (let j = 0; j < shapes.length; j++) {
      expect(bits(sc.m[j])).toEqual(bits(sa.m[j]));
      expect(bits(sc.v[j])).toEqual(bits(sa.v[j]));
    }
    // The run actually learned something, so the comparison is not of two frozen runs.
    expect(new Float32Array(new Uint32Array(lossesA.slice(-1)).buffer)[0]).toBeLessThan(
      new Float32Array(new Uint32Array(lossesA.slice(0, 1)).buffer)[0],
    );
    optA.dispose();
    optC.dispose();
  });
});

describe('globalNorm / clipScale', () => {
  // √(3² + 4² + 12²) = √169 = 13
  const make = () => [keep(tf.tensor1d([3, 4])), keep(tf.tensor2d([[12]]))];

  it('computes the global norm across tensors', () => {
    expect(globalNorm(make())).toBeCloseTo(13, 5);
    expect(globalNorm([])).toBe(0);
  });

  it('scales by maxNorm / norm when the norm is larger, so the clipped norm is maxNorm', () => {
    const g = make();
    const s = clipScale(globalNorm(g), 1);
    expect(s).toBeCloseTo(1 / 13, 7);
    const clipped = tf.tidy(() => g.map((t) => tf.mul(t, s)));
    created.push(...clipped);
    expectClose(clipped[0].dataSync(), [3 / 13, 4 / 13]);
    expect(globalNorm(clipped)).toBeCloseTo(1, 5);
  });

  it('leaves gradients alone below maxNorm, at it, or when clipping is off (0)', () => {
    for (const maxNorm of [0, 13, 13.5, 100]) expect(clipScale(13, maxNorm)).toBe(1);
  });

  it('reports a non-finite norm, which clipping does not hide', () => {
    expect(Number.isNaN(globalNorm([keep(tf.tensor1d([NaN, 1]))]))).toBe(true);
    expect(clipScale(NaN, 1)).toBe(1);
  });
});

describe('accumulate', () => {
  it('clones the first micro-batch, then adds in place of the old sums, disposing them', () => {
    const a = [keep(tf.tensor1d([1, 2])), keep(tf.tensor2d([[3]]))];
    const b = [keep(tf.tensor1d([10, 20])), keep(tf.tensor2d([[30]]))];
    const first = accumulate(null, a);
    expect(first[0]).not.toBe(a[0]);
    expect(Array.from(first[0].dataSync())).toEqual([1, 2]);
    const second = accumulate(first, b);
    created.push(...second);
    expect(first.every((t) => t.isDisposed)).toBe(true);
    expect([...a, ...b].some((t) => t.isDisposed)).toBe(false);
    expect(Array.from(second[0].dataSync())).toEqual([11, 22]);
    expect(Array.from(second[1].dataSync())).toEqual([33]);
    expect(second[1].shape).toEqual([1, 1]);
    expect(() => accumulate(second, [b[0]])).toThrow(/1 gradients added to 2/);
    expect(() => accumulate(second, [b[1], b[0]])).toThrow(/shape/);
  });

  it('leaks nothing over many micro-batches', () => {
    const g = [keep(tf.ones([8]))];
    let acc: tf.Tensor[] | null = null;
    acc = accumulate(acc, g);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) acc = accumulate(acc, g);
    expect(tf.memory().numTensors).toBe(before);
    expect(acc[0].dataSync()[0]).toBe(11);
    tf.dispose(acc);
  });
});

describe('HostAdamW', () => {
  it('matches the device AdamW to float32 precision and round-trips its state bitwise', async () => {
    await tf.setBackend('cpu');
    const make = () => [
      { name: 'w', variable: tf.variable(tf.tensor([[0.5, -1.25], [2, 0.125]]), true, `hw${Math.random()}`), decay: true },
      { name: 'n', variable: tf.variable(tf.tensor([1, 1]), true, `hn${Math.random()}`), decay: false },
    ];
    const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 };
    const [a, b] = [make(), make()];
    const device = new AdamW(a, o);
    const host = new HostAdamW(b, o);
    for (let step = 0; step < 5; step++) {
      const grads = [tf.tensor([[0.1 * step, -0.2], [0.3, 0.05]]), tf.tensor([-0.5, 0.25 * step])];
      device.apply(grads, 1e-2);
      host.apply(grads, 1e-2);
      grads.forEach((g) => g.dispose());
    }
    a.forEach((p, i) => {
      const x = p.variable.dataSync();
      const y = b[i].variable.dataSync();
      x.forEach((v, j) => expect(y[j]).toBeCloseTo(v, 6));
    });
    const again = new HostAdamW(b, o);
    again.load((await host.state()));
    expect((await again.state())).toEqual((await host.state()));
  });
});
