/**
 * The hand-written gradients of trainer/custom-grads.ts. Each kernel alone: its value and gradient equal
 * tfjs's own op on cpu (both signs of the upstream gradient for the cross-entropy, whose backward
 * folds a positive one into the exponent). Then through the whole model, where they are the only
 * hand-written backward code: central finite differences on cpu, the embedding's scatter summing
 * repeated ids, and the same gradients on wasm, which lacks the op tf.gather's gradient needs.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import { crossEntropySum, gatherRows, matmul } from '../../trainer/custom-grads.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { B1, CFG, gradsOf, lossOf } from './helpers.ts';

/** Scale matrices up from the 0.02 init so finite differences in float32 rise well above rounding noise. */
function sharpen(model: LlamaModel): void {
  for (const p of model.params) {
    if (p.decay) tf.tidy(() => p.variable.assign(tf.mul(p.variable, 10)));
  }
}

/** Deterministic values in [-2, 2): the kernels are compared with tfjs, not with fixed numbers. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x / 2 ** 32) * 4 - 2;
  }
  return out;
}

function expectClose(actual: tf.Tensor, expected: tf.Tensor, tol = 1e-5): void {
  expect(actual.shape).toEqual(expected.shape);
  const a = actual.dataSync();
  const b = expected.dataSync();
  for (let i = 0; i < b.length; i++) {
    expect(Math.abs(a[i] - b[i]), `element ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i])));
  }
}

describe('each kernel against the tfjs op it replaces, on cpu', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('gatherRows: the rows of tf.gather, and a gradient that sums repeated indices', () => {
    tf.tidy(() => {
      const x = tf.tensor2d(values(5 * 3, 1), [5, 3]);
      const idx = tf.tensor1d([4, 0, 4, 2, 4], 'int32');
      const dy = tf.tensor2d(values(5 * 3, 2), [5, 3]);
      expectClose(gatherRows(x, idx), tf.gather(x, idx), 0);
      const mine = tf.grad((t: tf.Tensor) => gatherRows(t as tf.Tensor2D, idx))(x, dy);
      expectClose(mine, tf.grad((t: tf.Tensor) => tf.gather(t, idx))(x, dy));
      // Row 4 was picked three times, rows 1 and 3 never.
      const g = mine.arraySync() as number[][];
      const d = dy.arraySync() as number[][];
      for (let c = 0; c < 3; c++) expect(g[4][c]).toBeCloseTo(d[0][c] + d[2][c] + d[4][c], 5);
      expect([...g[1], ...g[3]]).toEqual([0, 0, 0, 0, 0, 0]);
    });
  });

  it('matmul: the product and both gradients of tf.matMul, 2-D and batched 3-D', () => {
    tf.tidy(() => {
      for (const [a, b] of [
        [[4, 3], [3, 5]],
        [[2, 4, 3], [2, 3, 5]],
      ]) {
        const x = tf.tensor(values(a.reduce((p, q) => p * q), 3), a);
        const w = tf.tensor(values(b.reduce((p, q) => p * q), 4), b);
        const out = [...a.slice(0, -1), b.at(-1)!];
        const dy = tf.tensor(values(out.reduce((p, q) => p * q), 5), out);
        type T = tf.Tensor2D | tf.Tensor3D;
        expectClose(matmul(x as T, w as T), tf.matMul(x as T, w as T));
        const mine = tf.grads((p: tf.Tensor, q: tf.Tensor) => matmul(p as T, q as T))([x, w], dy);
        const theirs = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.matMul(p as T, q as T))([x, w], dy);
        expectClose(mine[0], theirs[0]);
        expectClose(mine[1], theirs[1]);
      }
    });
  });

  it('crossEntropySum: logSumExp minus the picked logit, and softmax minus one-hot times dy of either sign', () => {
    const n = 4;
    const V = 6;
    const targets = Int32Array.from([5, 0, 5, 2]);
    tf.tidy(() => {
      const logits = tf.tensor2d(values(n * V, 6).map((v) => 4 * v), [n, V]);
      const reference = (z: tf.Tensor) => tf.sum(tf.mul(tf.oneHot(tf.tensor1d(targets, 'int32'), V), tf.neg(tf.logSoftmax(z))));
      expectClose(crossEntropySum(logits, targets), reference(logits));
      for (const dy of [1, 2.5, 0, -0.75]) {
        const mine = tf.grad((z: tf.Tensor) => crossEntropySum(z as tf.Tensor2D, targets))(logits, tf.scalar(dy));
        expectClose(mine, tf.grad(reference)(logits, tf.scalar(dy)));
      }
    });
    // The index tensor built for the forward pass is not left behind.
    const before = tf.memory().numTensors;
    const logits = tf.tensor2d(values(n * V, 7), [n, V]);
    crossEntropySum(logits, targets).dispose();
    logits.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('gradients', () => {
  let model: LlamaModel;
  let cpu: { lossSum: number; grads: Float32Array[] };
  beforeAll(async () => {
    await selectBackend('cpu');
    model = new LlamaModel(CFG, 3);
    sharpen(model);
    cpu = gradsOf(model, B1);
  });
  afterAll(async () => {
    model.dispose();
    await selectBackend('cpu');
  });

  it('match central finite differences on cpu, and the embedding gradient sums repeated ids', () => {
    const eps = 1e-2;
    const names = model.params.map((p) => p.name);
    const probe = (name: string, index: number) => {
      const p = model.params[names.indexOf(name)];
      const base = p.variable.dataSync().slice() as Float32Array;
      const at = (delta: number) => {
        const w = base.slice();
        w[index] += delta;
        tf.tidy(() => p.variable.assign(tf.tensor(w, p.variable.shape)));
        return lossOf(model, B1).sum;
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      tf.tidy(() => p.variable.assign(tf.tensor(base, p.variable.shape)));
      return fd;
    };
    const argmaxAbs = (a: Float32Array) => a.reduce((best, v, i) => (Math.abs(v) > Math.abs(a[best]) ? i : best), 0);

    for (const name of ['layers.0.wq', 'layers.0.wk', 'layers.1.w_down', 'layers.0.attn_norm', 'final_norm', 'lm_head']) {
      const g = cpu.grads[names.indexOf(name)];
      const i = argmaxAbs(g);
      expect(Math.abs(g[i])).toBeGreaterThan(1e-2);
      expect(Math.abs(probe(name, i) - g[i])).toBeLessThan(0.02 * Math.abs(g[i]) + 1e-3);
    }

    // Id 5 appears four times in B1's inputs: its row's gradient is the sum over those positions.
    const embed = cpu.grads[0];
    const H = CFG.hidden;
    let j = 5 * H;
    for (let c = 0; c < H; c++) if (Math.abs(embed[5 * H + c]) > Math.abs(embed[j])) j = 5 * H + c;
    expect(Math.abs(probe('embed', j) - embed[j])).toBeLessThan(0.02 * Math.abs(embed[j]) + 1e-3);
    // Ids absent from the inputs get no gradient.
    expect(embed.subarray(6 * H, 7 * H).every((v) => v === 0)).toBe(true);
  });

  it('run on wasm (no UnsortedSegmentSum) and match cpu', async () => {
    await selectBackend('wasm');
    const { lossSum, grads } = gradsOf(model, B1);
    expect(lossSum).toBeCloseTo(cpu.lossSum, 3);
    for (let p = 0; p < grads.length; p++) {
      const a = grads[p];
      const b = cpu.grads[p];
      let scale = 0;
      for (const v of b) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-3 * scale + 1e-6);
    }
  });
});
