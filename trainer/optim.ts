/**
 * AdamW with decoupled weight decay, gradient clipping by global norm, and gradient accumulation.
 *
 * `tf.train.adam` folds no decay at all (and L2-through-the-gradient is not AdamW), so the update
 * is written out with tf ops, following `torch.optim.AdamW` (non-amsgrad, non-fused) step by step:
 *
 *   t ← t + 1
 *   p ← p · (1 − lr·wd)                                  (only params with decay = true)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
 *
 * The last line is m̂ / (√v̂ + eps) with the bias corrections arranged as PyTorch arranges them.
 *
 * Resuming must be bitwise-exact: the moments live in float32 variables, `state()` copies them out
 * as Float32Array and `load()` puts the same bits back, and every scalar in the update is derived
 * in doubles from (t, lr, the options) alone, so an update depends only on that state, the
 * gradients, the step and lr.
 */
import * as tf from '@tensorflow/tfjs';
import type { Param } from './model.ts';

/** What the trainer needs of an optimizer, wherever its moments live. */
export interface Optimizer {
  /** One update with these (already averaged and clipped) gradients, aligned with the parameters, at this learning rate. */
  apply(grads: tf.Tensor[], lr: number): void;
  /** A copy of the step count and both moments, safe to keep after further updates; read without blocking the device. */
  state(): Promise<AdamWState>;
  /** Replaces the step count and moments with a copy of `s`; refuses state saved for other parameters. */
  load(s: AdamWState): void;
  dispose(): void;
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface AdamWState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/** wasm and cpu tensors live in host memory already; GPU backends keep the moments on the device. */
export function createOptimizer(backend: string, params: Param[], o: AdamWOptions): Optimizer {
  return backend === 'wasm' || backend === 'cpu' ? new HostAdamW(params, o) : new AdamW(params, o);
}

/** The checks every AdamW makes, wherever its moments live, so both refuse the same inputs with the same words. */
const check = {
  options(params: readonly Param[], o: AdamWOptions): void {
    if (!(o.beta1 >= 0 && o.beta1 < 1)) throw new Error(`beta1 must be in [0, 1), got ${o.beta1}`);
    if (!(o.beta2 >= 0 && o.beta2 < 1)) throw new Error(`beta2 must be in [0, 1), got ${o.beta2}`);
    if (!(o.eps > 0)) throw new Error(`eps must be positive, got ${o.eps}`);
    if (!(o.weightDecay >= 0)) throw new Error(`weightDecay must be non-negative, got ${o.weightDecay}`);
    for (const p of params) {
      if (p.variable.dtype !== 'float32') throw new Error(`parameter ${p.name} is ${p.variable.dtype}, AdamW needs float32`);
    }
  },

  apply(params: readonly Param[], grads: tf.Tensor[], lr: number): void {
    if (grads.length !== params.length) throw new Error(`AdamW.apply: ${grads.length} gradients for ${params.length} parameters`);
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`AdamW.apply: learning rate must be finite and >= 0, got ${lr}`);
    grads.forEach((g, i) => {
      if (!sameShape(g.shape, params[i].variable.shape)) {
        throw new Error(`AdamW.apply: gradient ${i} (${params[i].name}) has shape [${g.shape}], the parameter [${params[i].variable.shape}]`);
      }
    });
  },

  /** Validated in full before anything is replaced, so that a bad state leaves the optimizer untouched. */
  state(params: readonly Param[], s: AdamWState): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`AdamW.load: step must be a non-negative integer, got ${s.step}`);
    for (const key of ['m', 'v'] as const) {
      const arrays = s[key];
      if (!Array.isArray(arrays) || arrays.length !== params.length) {
        throw new Error(`AdamW.load: state has ${Array.isArray(arrays) ? arrays.length : 'no'} '${key}' arrays for ${params.length} parameters`);
      }
      arrays.forEach((a, i) => {
        const p = params[i];
        if (!(a instanceof Float32Array)) throw new Error(`AdamW.load: '${key}' of ${p.name} is not a Float32Array`);
        if (a.length !== p.variable.size) {
          throw new Error(`AdamW.load: '${key}' of ${p.name} has ${a.length} values, the parameter [${p.variable.shape}] has ${p.variable.size}`);
        }
      });
    }
  },
};

export class AdamW implements Optimizer {
  private readonly params: Param[];
  private readonly o: AdamWOptions;
  private m: tf.Variable[];
  private v: tf.Variable[];
  private t = 0;
  private disposed = false;

  constructor(params: Param[], o: AdamWOptions) {
    check.options(params, o);
    this.params = params.slice();
    this.o = { ...o };
    this.m = this.params.map((p) => zeroSlot(p.variable.shape));
    this.v = this.params.map((p) => zeroSlot(p.variable.shape));
  }

  apply(grads: tf.Tensor[], lr: number): void {
    this.assertLive();
    check.apply(this.params, grads, lr);

    this.t += 1;
    const { beta1, beta2, eps, weightDecay } = this.o;
    const stepSize = lr / (1 - Math.pow(beta1, this.t));
    const bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, this.t));
    const decayFactor = 1 - lr * weightDecay;

    // One tidy per parameter: holding every parameter's temporaries until the end would need
    // several extra copies of the whole model.
    this.params.forEach((p, i) =>
      tf.tidy(() => {
        const b1 = tf.scalar(beta1);
        const oneMinusB1 = tf.scalar(1 - beta1);
        const b2 = tf.scalar(beta2);
        const oneMinusB2 = tf.scalar(1 - beta2);
        const epsT = tf.scalar(eps);
        const bc2SqrtT = tf.scalar(bc2Sqrt);
        const negStepSize = tf.scalar(-stepSize);
        const decayT = tf.scalar(decayFactor);
        const g = grads[i].dtype === 'float32' ? grads[i] : tf.cast(grads[i], 'float32');
        let value: tf.Tensor = p.variable;
        if (p.decay && weightDecay !== 0) value = tf.mul(value, decayT);
        const m = tf.add(tf.mul(this.m[i], b1), tf.mul(g, oneMinusB1));
        const v = tf.add(tf.mul(this.v[i], b2), tf.mul(tf.square(g), oneMinusB2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2SqrtT), epsT);
        const next = tf.add(value, tf.mul(tf.div(m, denom), negStepSize));
        this.m[i].assign(m);
        this.v[i].assign(v);
        p.variable.assign(next);
      }),
    );
  }

  async state(): Promise<AdamWState> {
    this.assertLive();
    const read = (xs: tf.Variable[]) => Promise.all(xs.map(async (x) => Float32Array.from((await x.data()) as Float32Array)));
    const step = this.t;
    const [m, v] = await Promise.all([read(this.m), read(this.v)]);
    return { step, m, v };
  }

  load(s: AdamWState): void {
    this.assertLive();
    check.state(this.params, s);
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        this.m[i].assign(tf.tensor(Float32Array.from(s.m[i]), p.variable.shape, 'float32'));
        this.v[i].assign(tf.tensor(Float32Array.from(s.v[i]), p.variable.shape, 'float32'));
      });
    });
    this.t = s.step;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const x of this.m) x.dispose();
    for (const x of this.v) x.dispose();
    this.m = [];
    this.v = [];
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('AdamW: used after dispose()');
  }
}

/**
 * The same AdamW with its moments in JavaScript memory and the update computed in float32 on
 * the host. For the wasm and cpu backends, whose tensors share one heap: the wasm heap cannot
 * hold a 100m model's weights, gradients and both moments at once (it fails past 2 GiB), and on
 * the cpu backend the data is in JavaScript anyway (so the synchronous reads here cost nothing;
 * a GPU backend could not make them). Every operation is rounded to float32 in the order of the
 * formula above, so a run is bitwise reproducible from its state.
 */
export class HostAdamW implements Optimizer {
  private readonly params: Param[];
  private m: Float32Array[];
  private v: Float32Array[];
  private t = 0;

  constructor(params: Param[], private readonly o: AdamWOptions) {
    check.options(params, o);
    this.params = params.slice();
    this.m = this.params.map((p) => new Float32Array(p.variable.size));
    this.v = this.params.map((p) => new Float32Array(p.variable.size));
  }

  apply(grads: tf.Tensor[], lr: number): void {
    check.apply(this.params, grads, lr);
    this.t += 1;
    const f = Math.fround;
    const { beta1, beta2, eps, weightDecay } = this.o;
    const b1 = f(beta1);
    const c1 = f(1 - beta1);
    const b2 = f(beta2);
    const c2 = f(1 - beta2);
    const e = f(eps);
    const bc2Sqrt = f(Math.sqrt(1 - Math.pow(beta2, this.t)));
    const negStep = f(-(lr / (1 - Math.pow(beta1, this.t))));
    const decay = f(1 - lr * weightDecay);
    this.params.forEach((p, i) => {
      const g = grads[i].dataSync() as Float32Array;
      const w = Float32Array.from(p.variable.dataSync() as Float32Array);
      const m = this.m[i];
      const v = this.v[i];
      const decays = p.decay && weightDecay !== 0;
      for (let j = 0; j < w.length; j++) {
        const gj = g[j];
        const wj = decays ? f(w[j] * decay) : w[j];
        const mj = f(f(m[j] * b1) + f(gj * c1));
        const vj = f(f(v[j] * b2) + f(f(gj * gj) * c2));
        m[j] = mj;
        v[j] = vj;
        w[j] = f(wj + f(f(mj / f(f(Math.sqrt(vj)) / bc2Sqrt + e)) * negStep));
      }
      tf.tidy(() => p.variable.assign(tf.tensor(w, p.variable.shape, 'float32')));
    });
  }

  async state(): Promise<AdamWState> {
    return { step: this.t, m: this.m.map((a) => a.slice()), v: this.v.map((a) => a.slice()) };
  }

  load(s: AdamWState): void {
    check.state(this.params, s);
    this.m = s.m.map((a) => a.slice());
    this.v = s.v.map((a) => a.slice());
    this.t = s.step;
  }

  dispose(): void {
    this.m = [];
    this.v = [];
  }
}

/**
 * Σ g² over every element of every gradient, as a scalar left on the device for the step's one read.
 * Added one tensor at a time rather than with addN, whose pipeline for many inputs needs more storage
 * buffers than some WebGPU adapters have; the order of the sums is the same.
 */
export function squaredNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    let acc: tf.Scalar = tf.scalar(0);
    grads.forEach((g, i) => {
      const s = tf.sum(tf.square(tf.cast(g, 'float32'))) as tf.Scalar;
      acc = i === 0 ? s : tf.add(acc, s);
    });
    return acc;
  });
}

/** The factor that clips a gradient of global norm `norm` to at most `maxNorm`: min(1, maxNorm / norm); 0 means no clipping. */
export function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
}

/**
 * Gradient accumulation: adds `add` into `into` (same order), disposing what it replaces; `into`
 * may be null for the first micro-batch. `add` is never disposed and the result is always new
 * tensors, so the caller owns (and disposes) each micro-batch's gradients the same way every time.
 */
export function accumulate(into: tf.Tensor[] | null, add: tf.Tensor[]): tf.Tensor[] {
  if (into === null) return add.map((g) => tf.clone(g));
  if (into.length !== add.length) throw new Error(`accumulate: ${add.length} gradients added to ${into.length}`);
  add.forEach((g, i) => {
    if (!sameShape(g.shape, into[i].shape)) {
      throw new Error(`accumulate: gradient ${i} has shape [${g.shape}], the accumulator [${into[i].shape}]`);
    }
  });
  const sums = tf.tidy(() => into.map((acc, i) => tf.add(acc, add[i])));
  for (const acc of into) acc.dispose();
  return sums;
}

function zeroSlot(shape: number[]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(shape, 'float32'), false));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
