/**
 * One optimizer step of the training loop (`optimizerStep`), on cpu with the tiny test model:
 * micro-batches add up to the step of the whole batch, the optimizer gets the mean gradient clipped
 * to --clip, and an overflowed step changes nothing. `train` itself, the loop around it, runs end to
 * end in test/e2e/train.test.ts; `lossAndGrads` is checked in model.test.ts and custom-grads.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import type { Batch, Loader } from '../../trainer/data.ts';
import { lossAndGrads, optimizerStep } from '../../trainer/step.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { createOptimizer, type AdamWState, type Optimizer } from '../../trainer/optim.ts';
import { B1, CFG, batch, normOf } from './helpers.ts';

const ADAM = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 };

/**
 * Serves the rows of `b` in order, wrapping around, and records the sizes asked for. Only the rows
 * matter here: the real loader's order and cursor are tested in data.test.ts.
 */
function rowsOf(b: Batch): { loader: Loader; asked: number[] } {
  const asked: number[] = [];
  let next = 0;
  const loader = {
    async next(n: number): Promise<Batch> {
      asked.push(n);
      const pick = (a: Int32Array) => {
        const out = new Int32Array(n * b.length);
        for (let r = 0; r < n; r++) out.set(a.subarray(((next + r) % b.rows) * b.length, (((next + r) % b.rows) + 1) * b.length), r * b.length);
        return out;
      };
      const out = { rows: n, length: b.length, inputIds: pick(b.inputIds), labels: pick(b.labels), positionIds: pick(b.positionIds) };
      next = (next + n) % b.rows;
      return out;
    },
  };
  return { loader: loader as unknown as Loader, asked };
}

/** Keeps what it is asked to apply, to compare with what the step should have computed. */
class Recorder implements Optimizer {
  calls: { grads: Float32Array[]; norm: number; lr: number }[] = [];
  apply(grads: tf.Tensor[], lr: number): void {
    this.calls.push({ grads: grads.map((g) => g.dataSync() as Float32Array), norm: normOf(grads), lr });
  }
  async state(): Promise<AdamWState> {
    return { step: this.calls.length, m: [], v: [] };
  }
  load(): void {}
  dispose(): void {}
}

const weights = (m: LlamaModel) => m.params.map((p) => p.variable.dataSync().slice() as Float32Array);

describe('optimizerStep on cpu', () => {
  let model: LlamaModel;
  /** lossAndGrads on the whole of B1: what one step over its two rows must add up to. */
  let whole: { lossSum: number; count: number; norm: number };
  beforeAll(async () => {
    await selectBackend('cpu');
    model = new LlamaModel(CFG, 11);
    const r = lossAndGrads(model, B1);
    whole = { lossSum: r.lossSum.dataSync()[0], count: r.count, norm: normOf(r.grads) };
    tf.dispose([r.lossSum, ...r.grads]);
  });
  afterAll(() => model.dispose());

  it('asks the loader for micro-batches that add up to the step, the last one short', async () => {
    for (const [rows, micro, sizes] of [
      [2, 2, [2]],
      [2, 1, [1, 1]],
      [5, 2, [2, 2, 1]],
    ] as const) {
      const { loader, asked } = rowsOf(B1);
      await optimizerStep(model, new Recorder(), loader, { rows, micro, clip: 0, lr: 1e-3 });
      expect(asked).toEqual(sizes);
    }
  });

  it('returns the summed loss and target count of the step, and the norm of the mean gradient', async () => {
    for (const micro of [2, 1]) {
      const rec = new Recorder();
      const r = await optimizerStep(model, rec, rowsOf(B1).loader, { rows: 2, micro, clip: 0, lr: 3e-4 });
      expect(r.count).toBe(whole.count);
      expect(r.lossSum).toBeCloseTo(whole.lossSum, 4);
      expect(r.norm).toBeCloseTo(whole.norm / whole.count, 5);
      // Without clipping the optimizer gets the mean gradient itself, at the scheduled rate.
      expect(rec.calls).toHaveLength(1);
      expect(rec.calls[0].norm).toBeCloseTo(r.norm, 5);
      expect(rec.calls[0].lr).toBe(3e-4);
    }
  });

  it('clips the mean gradient to --clip, and only when it is larger', async () => {
    const mean = whole.norm / whole.count;
    const run = async (clip: number) => {
      const rec = new Recorder();
      const r = await optimizerStep(model, rec, rowsOf(B1).loader, { rows: 2, micro: 1, clip, lr: 1e-3 });
      expect(r.norm).toBeCloseTo(mean, 5);
      return rec.calls[0];
    };
    const clipped = await run(mean / 4);
    const free = await run(mean * 4);
    expect(clipped.norm).toBeCloseTo(mean / 4, 5);
    expect(free.norm).toBeCloseTo(mean, 5);
    // Clipping scales every gradient by one factor: the direction is kept.
    clipped.grads.forEach((g, p) => g.forEach((v, i) => expect(v).toBeCloseTo(free.grads[p][i] / 4, 6)));
  });

  it('updates the weights as one whole batch would: micro-batches change only the summation order', async () => {
    const a = new LlamaModel(CFG, 11);
    const b = new LlamaModel(CFG, 11);
    const optA = createOptimizer('cpu', a.params, ADAM);
    const optB = createOptimizer('cpu', b.params, ADAM);
    try {
      const before = weights(a);
      const loaderA = rowsOf(B1).loader;
      const loaderB = rowsOf(B1).loader;
      for (let step = 0; step < 3; step++) {
        const ra = await optimizerStep(a, optA, loaderA, { rows: 2, micro: 2, clip: 1, lr: 1e-2 });
        const rb = await optimizerStep(b, optB, loaderB, { rows: 2, micro: 1, clip: 1, lr: 1e-2 });
        expect(rb.count).toBe(ra.count);
        expect(rb.lossSum).toBeCloseTo(ra.lossSum, 4);
      }
      const wa = weights(a);
      const wb = weights(b);
      expect(wa.some((w, p) => w.some((v, i) => v !== before[p][i]))).toBe(true);
      wa.forEach((w, p) => w.forEach((v, i) => expect(Math.abs(v - wb[p][i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v)))));
      expect((await optA.state()).step).toBe(3);
    } finally {
      [optA, optB].forEach((o) => o.dispose());
      [a, b].forEach((m) => m.dispose());
    }
  });

  it('skips the update of a step whose gradient overflowed, rather than poison the weights and moments', async () => {
    const m = new LlamaModel(CFG, 5);
    const optim = createOptimizer('cpu', m.params, ADAM);
    try {
      // Float32 logits of ±1e38-scale weights overflow to ±Infinity, so the loss and its gradient are not finite.
      const head = m.params.find((p) => p.name === 'lm_head')!;
      tf.tidy(() => head.variable.assign(tf.mul(tf.sign(head.variable), 3e38)));
      const before = weights(m);
      const r = await optimizerStep(m, optim, rowsOf(B1).loader, { rows: 2, micro: 1, clip: 1, lr: 1e-2 });
      expect(Number.isFinite(r.norm)).toBe(false);
      expect(r.count).toBe(whole.count);
      expect((await optim.state()).step).toBe(0);
      weights(m).forEach((w, p) => expect(Buffer.from(w.buffer).equals(Buffer.from(before[p].buffer))).toBe(true));
    } finally {
      optim.dispose();
      m.dispose();
    }
  });

  it('gives a zero gradient to a step with no scored target, and leaks no tensors', async () => {
    const unscored = batch(2, 3, [1, 2, 3, 4, 5, 6], [-100, -100, -100, -100, -100, -100], [0, 1, 2, 0, 1, 2]);
    const rec = new Recorder();
    const before = tf.memory().numTensors;
    const r = await optimizerStep(model, rec, rowsOf(unscored).loader, { rows: 2, micro: 1, clip: 1, lr: 1e-3 });
    expect(r).toEqual({ lossSum: 0, count: 0, norm: 0 });
    expect(rec.calls[0].grads.every((g) => g.every((v) => v === 0))).toBe(true);
    await optimizerStep(model, rec, rowsOf(B1).loader, { rows: 2, micro: 1, clip: 1, lr: 1e-3 });
    expect(tf.memory().numTensors).toBe(before);
  });
});
