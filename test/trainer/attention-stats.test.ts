/**
 * `meap eval --attention-stats`' numbers (LlamaModel.lossSum with a mask id, attentionStats) on a hand-built
 * case: with wq and wk zero every score is 0, so each query spreads its weight evenly over the keys
 * it may attend to (itself and those before it, in its own document), and the statistics follow by
 * counting.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import { attentionStats } from '../../trainer/eval.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { CFG, batch } from './helpers.ts';

const MASK = 63;

describe('attention statistics', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    await selectBackend('cpu');
    model = new LlamaModel(CFG, 5);
    for (const p of model.params) if (/\.w[qk]$/.test(p.name)) p.variable.assign(tf.zerosLike(p.variable));
  });
  afterAll(() => model.dispose());

  it('counts what uniform attention gives [MASK] keys and the others, and the variance of the weights', async () => {
    // Two rows; the second holds two documents (position 0 at index 0 and 4).
    const ids = [5, MASK, 7, MASK, 9, 10, 11, 12, MASK, 3, 4, MASK, MASK, 6, 2, 1];
    const pos = [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 0, 1, 2, 3];
    const b = batch(2, 8, ids, ids, pos);
    const { sum, attention } = model.lossSum(b, MASK);
    sum.dispose();
    const stats = attentionStats(await attention!.array());
    attention!.dispose();

    // The expectation, in float64: every (query, allowed key) pair has weight 1 / (keys allowed).
    const weights: { w: number; mask: boolean }[] = [];
    for (let r = 0; r < 2; r++) {
      for (let q = 0; q < 8; q++) {
        let start = q;
        while (pos[r * 8 + start] !== 0) start--;
        const keys = q - start + 1;
        for (let k = start; k <= q; k++) for (let h = 0; h < CFG.heads; h++) weights.push({ w: 1 / keys, mask: ids[r * 8 + k] === MASK });
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
    const all = weights.map((x) => x.w);
    const want = {
      maskWeight: mean(weights.filter((x) => x.mask).map((x) => x.w)),
      otherWeight: mean(weights.filter((x) => !x.mask).map((x) => x.w)),
      variance: mean(all.map((w) => w * w)) - mean(all) ** 2,
    };
    expect(stats.layers).toHaveLength(CFG.layers);
    for (const layer of [...stats.layers, stats.mean]) {
      expect(layer.maskWeight).toBeCloseTo(want.maskWeight, 6);
      expect(layer.otherWeight).toBeCloseTo(want.otherWeight, 6);
      expect(layer.variance).toBeCloseTo(want.variance, 6);
    }
    // The case tells the two apart: a statistic swapped for the other would fail.
    expect(Math.abs(want.maskWeight - want.otherWeight)).toBeGreaterThan(0.05);
  });
});
