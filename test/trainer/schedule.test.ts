/**
 * The learning-rate schedule: exact values at the warm-up, mid-decay and end points, the edge cases
 * (no warm-up, one step, rounding noise in warmup × total) and refusal of bad arguments.
 */
import { describe, expect, it } from 'vitest';
import { learningRate } from '../../trainer/schedule.ts';

describe('learningRate', () => {
  const o = { lr: 4e-4, minLr: 4e-5, warmup: 0.1 };

  it('warms up linearly over ceil(warmup × total) steps, ending on lr', () => {
    // total 100 → W = 10: step 0 gets lr/10, step 4 gets lr/2, step 9 gets lr.
    expect(learningRate(0, 100, o)).toBeCloseTo(4e-5, 15);
    expect(learningRate(4, 100, o)).toBeCloseTo(2e-4, 15);
    expect(learningRate(9, 100, o)).toBeCloseTo(4e-4, 15);
  });

  it('decays by a cosine from lr (first step after warm-up) to minLr (last step)', () => {
    expect(learningRate(10, 100, o)).toBeCloseTo(4e-4, 15);
    expect(learningRate(99, 100, o)).toBeCloseTo(4e-5, 15);
    // total 20, warmup 0.25 → W = 5, p = (s − 5) / 14: s = 12 is the middle, cos(π/2) = 0.
    const q = { lr: 4e-4, minLr: 4e-5, warmup: 0.25 };
    expect(learningRate(12, 20, q)).toBeCloseTo(4e-5 + 0.5 * 3.6e-4, 15);
    // s = 9: p = 4/14 = 2/7, so 4e-5 + 1.8e-4 × (1 + cos(2π/7)) with cos(2π/7) = 0.6234898018587336.
    expect(learningRate(9, 20, q)).toBeCloseTo(4e-5 + 1.8e-4 * 1.6234898018587336, 15);
    expect(learningRate(19, 20, q)).toBeCloseTo(4e-5, 15);
  });

  it('without warm-up starts at lr and is monotone down to minLr', () => {
    const z = { ...o, warmup: 0 };
    expect(learningRate(0, 21, z)).toBeCloseTo(4e-4, 15);
    expect(learningRate(10, 21, z)).toBeCloseTo(2.2e-4, 15); // p = 10/20, the middle
    expect(learningRate(20, 21, z)).toBeCloseTo(4e-5, 15);
    let prev = Infinity;
    for (let s = 0; s < 21; s++) {
      const lr = learningRate(s, 21, z);
      expect(lr).toBeLessThanOrEqual(prev);
      prev = lr;
    }
  });

  it('gives lr for a one-step run, with or without warm-up', () => {
    expect(learningRate(0, 1, o)).toBe(4e-4);
    expect(learningRate(0, 1, { ...o, warmup: 0 })).toBe(4e-4);
  });

  it('does not add a warm-up step for rounding noise (0.07 × 100 = 7.000000000000001)', () => {
    const r = { ...o, warmup: 0.07 };
    expect(learningRate(6, 100, r)).toBeCloseTo(4e-4, 15);
    expect(learningRate(7, 100, r)).toBeCloseTo(4e-4, 15);
  });

  it('stays at minLr past the end and rejects bad arguments', () => {
    expect(learningRate(150, 100, o)).toBeCloseTo(4e-5, 15);
    expect(() => learningRate(-1, 100, o)).toThrow(/step/);
    expect(() => learningRate(0, 0, o)).toThrow(/totalSteps/);
  });
});
