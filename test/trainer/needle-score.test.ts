/**
 * scoreAnswer against a real greedy decode with the reference model, token by token, and its mean
 * log-probability against float64 arithmetic on the full logits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../trainer/backend.ts';
import { LlamaModel } from '../../trainer/model.ts';
import { scoreAnswer } from '../../trainer/needle-score.ts';
import { CFG } from './helpers.ts';

const V = CFG.vocabRows;

/** The full logits of one sequence, [length, V]. */
function logits(model: LlamaModel, ids: Int32Array): Float32Array {
  const positionIds = Int32Array.from({ length: ids.length }, (_, i) => i);
  const t = model.logits({ rows: 1, length: ids.length, inputIds: ids, labels: ids, positionIds });
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/** `n` tokens decoded greedily after `prompt`, each from a new forward pass over all before it. */
function greedy(model: LlamaModel, prompt: Int32Array, n: number): Int32Array {
  const ids = [...prompt];
  for (let k = 0; k < n; k++) {
    const l = logits(model, Int32Array.from(ids)).subarray((ids.length - 1) * V, ids.length * V);
    ids.push(l.indexOf(Math.max(...l)));
  }
  return Int32Array.from(ids.slice(prompt.length));
}

/** Seeded prompts of 5 to 24 tokens. */
function prompts(count: number): Int32Array[] {
  let s = 12345;
  const next = () => (s = (s * 1103515245 + 12345) >>> 0) % 2 ** 16;
  return Array.from({ length: count }, () => Int32Array.from({ length: 5 + (next() % 20) }, () => next() % V));
}

describe('scoreAnswer', () => {
  let model: LlamaModel;
  beforeAll(async () => {
    await selectBackend('cpu');
    model = new LlamaModel(CFG, 11);
  });
  afterAll(() => model.dispose());

  it("is exact where a greedy decode gives the answer, and not where one token differs", async () => {
    for (const prompt of prompts(8)) {
      const decoded = greedy(model, prompt, 4);
      expect((await scoreAnswer(model, prompt, decoded)).exact).toBe(true);
      for (let j = 0; j < decoded.length; j++) {
        const wrong = decoded.slice();
        wrong[j] = (wrong[j] + 1) % V;
        // Greedy decoding gives `decoded`, so an answer that differs anywhere is not what it gives.
        expect((await scoreAnswer(model, prompt, wrong)).exact).toBe(false);
      }
    }
  });

  it("gives the answer's mean log-probability per token", async () => {
    for (const prompt of prompts(4)) {
      const answer = Int32Array.from([3, 17, 42]);
      const all = Int32Array.from([...prompt, ...answer]);
      const l = logits(model, all);
      let sum = 0;
      for (let j = 0; j < answer.length; j++) {
        const row = Array.from(l.subarray((prompt.length - 1 + j) * V, (prompt.length + j) * V));
        const max = Math.max(...row);
        sum += row[answer[j]] - max - Math.log(row.reduce((z, v) => z + Math.exp(v - max), 0));
      }
      expect((await scoreAnswer(model, prompt, answer)).meanLogProb).toBeCloseTo(sum / answer.length, 4);
    }
  });
});
