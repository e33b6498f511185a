import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { lossAndGrads } from '../../trainer/loop.ts';
import { type Batch } from '../../trainer/data.ts';
import type { ModelConfig } from '../../schemas/train.ts';

// Small enough for the plain-JS cpu backend, but with GQA (2 query heads per KV head) and 2 layers.
const CFG: ModelConfig = {
  layers: 2, hidden: 16, intermediate: 24, heads: 4, kvHeads: 2, ropeBase: 10000, normEps: 1e-5, vocabRows: 64,
};

function batch(rows: number, length: number, ids: number[], labels: number[], pos: number[]): Batch {
  return {
    rows, length,
    inputIds: Int32Array.from(ids), labels: Int32Array.from(labels), positionIds: Int32Array.from(pos),
  };
}

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

function lossOf(model: LlamaModel, b: Batch): { sum: number; count: number } {
  const { sum, count } = model.lossSum(b);
  const v = sum.dataSync()[0];
  sum.dispose();
  return { sum: v, count };
}

function logitsOf(model: LlamaModel, b: Batch): Float32Array {
  const t = model.logits(b);
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

function gradsOf(model: LlamaModel, b: Batch): { lossSum: number; grads: Float32Array[] } {
  const { lossSum, grads } = lossAndGrads(model, b);
  const out = grads.map((g) => g.dataSync() as Float32Array);
  grads.forEach((g) => g.dispose());
  return { lossSum, grads: out };
}

/** Scale matrices up from the 0.02 init so finite differences in float32 rise well above rounding noise. */
function sharpen(model: LlamaModel): void {
  for (const p of model.params) {
    if (p.decay) tf.tidy(() => p.variable.assign(tf.mul(p.variable, 10)));
  }
}

const B1 = batch(
  2, 6,
  [3, 17, 5, 5, 40, 9, 11, 5, 63, 2, 5, 8],
  [3, 17, -100, 5, 40, 9, -100, 5, 63, -100, -100, 8],
  [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5],
);

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
    expect([lossSum, count]).toEqual([0, 0]);
    expect(grads.map((g) => g.shape)).toEqual(model.params.map((p) => p.variable.shape));
    expect(grads.every((g) => (g.dataSync() as Float32Array).every((v) => v === 0))).toBe(true);
    grads.forEach((g) => g.dispose());
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
