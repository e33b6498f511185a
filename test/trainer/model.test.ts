/**
 * The model's forward pass on cpu: the HF-shifted loss against a float64 reference, attention that
 * stays inside a document, seeded initialisation; and `lossAndGrads` (trainer/loop.ts) with nothing
 * to score. The gradients themselves are checked in custom-grads.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { lossAndGrads } from '../../trainer/step.ts';
import { type Batch } from '../../trainer/data.ts';
import { B1, CFG, batch, gradsOf, lossOf } from './helpers.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Cross-entropy sum computed in float64 from the model's logits, with the HF shift and −100 skipped. */
function expectedLoss(logits: Float32Array, b: Batch, vocab: number): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let r = 0; r < b.rows; r++) {
    for (let t = 0; t + 1 < b.length; t++) {
      const y = b.labels[r * b.length + t + 1];
      if (y === -100) continue;
      const row = logits.subarray((r * b.length + t) * vocab, (r * b.length + t + 1) * vocab);
      const max = Math.max(...row);
      let z = 0;
      for (const v of row) z += Math.exp(v - max);
      sum += max + Math.log(z) - row[y];
      count++;
    }
  }
  return { sum, count };
}

function logitsOf(model: LlamaModel, b: Batch): Float32Array {
  const t = model.logits(b);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

describe('LlamaModel on cpu', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    await selectBackend('cpu');
    model = new LlamaModel(CFG, 7);
  });
  afterAll(() => model.dispose());

  it('scores position t against labels[t+1], skipping −100', () => {
    const logits = logitsOf(model, B1);
    expect(logits.length).toBe(2 * 6 * 64);
    const want = expectedLoss(logits, B1, 64);
    const got = lossOf(model, B1);
    // Targets: row 0 labels[1..5] minus one −100 → 4; row 1 labels[1..5] minus two → 3.
    expect(want.count).toBe(7);
    expect(got.count).toBe(7);
    expect(got.sum).toBeCloseTo(want.sum, 4);

    // The label at position 0 is never a target.
    const relabel0 = { ...B1, labels: B1.labels.slice() };
    relabel0.labels[0] = 42;
    relabel0.labels[6] = 1;
    expect(lossOf(model, relabel0)).toEqual(got);

    // Masking one more label removes exactly its term.
    const masked = { ...B1, labels: B1.labels.slice() };
    masked.labels[4] = -100;
    const wantMasked = expectedLoss(logits, masked, 64);
    const gotMasked = lossOf(model, masked);
    expect(gotMasked.count).toBe(6);
    expect(gotMasked.sum).toBeCloseTo(wantMasked.sum, 4);
    expect(gotMasked.sum).toBeLessThan(got.sum);
  });

  it('keeps attention inside a document (positionIds restart at 0)', () => {
    const k = 4;
    const m = 5;
    const second = [7, 21, 33, 2, 50];
    const packed = (first: number[], pos: number[]) =>
      batch(1, k + m, [...first, ...second], new Array(k + m).fill(-100), pos);
    const restart = [...range(k), ...range(m)];
    const V = 64;
    const a = logitsOf(model, packed([1, 2, 3, 4], restart)).subarray(k * V);
    const b = logitsOf(model, packed([60, 9, 9, 12], restart)).subarray(k * V);
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 5);

    // The same document alone in its own row gives the same logits: RoPE follows positionIds, not the index.
    const alone = logitsOf(model, batch(1, m, second, new Array(m).fill(-100), range(m)));
    for (let i = 0; i < alone.length; i++) expect(a[i]).toBeCloseTo(alone[i], 5);

    // Control: without the restart the first tokens do leak into the second part.
    const c = logitsOf(model, packed([1, 2, 3, 4], range(k + m))).subarray(k * V);
    const d = logitsOf(model, packed([60, 9, 9, 12], range(k + m))).subarray(k * V);
    let diff = 0;
    for (let i = 0; i < c.length; i++) diff = Math.max(diff, Math.abs(c[i] - d[i]));
    expect(diff).toBeGreaterThan(1e-4);
  });

  it('returns zero loss and gradients when nothing is scored, and leaks no tensors', () => {
    const none = batch(1, 3, [1, 2, 3], [-100, -100, -100], [0, 1, 2]);
    const before = tf.memory().numTensors;
    const { lossSum, count, grads } = lossAndGrads(model, none);
    expect([lossSum.dataSync()[0], count]).toEqual([0, 0]);
    expect(grads.map((g) => g.shape)).toEqual(model.params.map((p) => p.variable.shape));
    expect(grads.every((g) => (g.dataSync() as Float32Array).every((v) => v === 0))).toBe(true);
    tf.dispose([lossSum, ...grads]);
    gradsOf(model, B1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is deterministic: same seed, bitwise-equal weights and loss', () => {
    const a = new LlamaModel(CFG, 123);
    const b = new LlamaModel(CFG, 123);
    const c = new LlamaModel(CFG, 124);
    try {
      expect(a.params.map((p) => p.name)).toEqual(b.params.map((p) => p.name));
      expect(a.params.map((p) => p.name).slice(0, 3)).toEqual(['embed', 'layers.0.attn_norm', 'layers.0.wq']);
      expect(a.params.at(-1)!.name).toBe('lm_head');
      for (let i = 0; i < a.params.length; i++) {
        const va = Buffer.from((a.params[i].variable.dataSync() as Float32Array).buffer);
        const vb = Buffer.from((b.params[i].variable.dataSync() as Float32Array).buffer);
        expect(va.equals(vb)).toBe(true);
      }
      expect(lossOf(a, B1).sum).toBe(lossOf(b, B1).sum);
      expect(lossOf(c, B1).sum).not.toBe(lossOf(a, B1).sum);
    } finally {
      [a, b, c].forEach((m) => m.dispose());
    }
  });
});
