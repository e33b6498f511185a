/**
 * A model small enough for the plain-JS cpu backend, and a batch to run it on: shared by the model,
 * kernel and loop tests so that they all check the same shapes.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../../trainer/data.ts';
import { lossAndGrads } from '../../trainer/step.ts';
import { squaredNorm } from '../../trainer/optim.ts';
import type { LlamaModel } from '../../trainer/model.ts';
import type { ModelConfig } from '../../schemas/train.ts';

// Small enough for the plain-JS cpu backend, but with GQA (2 query heads per KV head) and 2 layers.
export const CFG: ModelConfig = {
  layers: 2, hidden: 16, intermediate: 24, heads: 4, kvHeads: 2, ropeBase: 10000, normEps: 1e-5, vocabRows: 64,
};

export function batch(rows: number, length: number, ids: number[], labels: number[], pos: number[]): Batch {
  return {
    rows, length,
    inputIds: Int32Array.from(ids), labels: Int32Array.from(labels), positionIds: Int32Array.from(pos),
  };
}

/** Two rows with −100 labels in both, and id 5 four times: a repeated embedding row. */
export const B1 = batch(
  2, 6,
  [3, 17, 5, 5, 40, 9, 11, 5, 63, 2, 5, 8],
  [3, 17, -100, 5, 40, 9, -100, 5, 63, -100, -100, 8],
  [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5],
);

export function lossOf(model: LlamaModel, b: Batch): { sum: number; count: number } {
  const { sum, count } = model.lossSum(b);
  const v = sum.dataSync()[0];
  sum.dispose();
  return { sum: v, count };
}

export function gradsOf(model: LlamaModel, b: Batch): { lossSum: number; grads: Float32Array[] } {
  const r = lossAndGrads(model, b);
  const out = r.grads.map((g) => g.dataSync() as Float32Array);
  const lossSum = r.lossSum.dataSync()[0];
  tf.dispose([r.lossSum, ...r.grads]);
  return { lossSum, grads: out };
}

/** √(Σ g²), read at once: tests run on host backends. */
export function normOf(grads: tf.Tensor[]): number {
  const sq = squaredNorm(grads);
  const v = Math.sqrt(sq.dataSync()[0]);
  sq.dispose();
  return v;
}
