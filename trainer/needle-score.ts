/**
 * A needle prompt's score under a model, in one forward pass: greedy decoding reproduces the answer
 * exactly when, teacher-forced, every answer token is the argmax given the prompt and the answer's
 * earlier tokens; and the answer's mean log-probability per token, a smooth score that separates
 * small models before exact match does.
 *
 * Covered by test/trainer/needle-score.test.ts (against a real greedy decode, token by token).
 */
import * as tf from '@tensorflow/tfjs';
import type { LlamaModel } from './model.ts';

/**
 * The longest prompt this scores: the reference model builds a dense attention mask of length² floats
 * (trainer/model.ts), 256 MB at 8,192 tokens.
 */
export const MAX_PROMPT_TOKENS = 8192;

export interface NeedleScore {
  exact: boolean;
  meanLogProb: number;
}

export async function scoreAnswer(model: LlamaModel, prompt: Int32Array, answer: Int32Array): Promise<NeedleScore> {
  // The answer's last token is only a target; every other token is an input.
  const length = prompt.length + answer.length - 1;
  const inputIds = new Int32Array(length);
  inputIds.set(prompt);
  inputIds.set(answer.subarray(0, answer.length - 1), prompt.length);
  const positionIds = Int32Array.from({ length }, (_, i) => i);
  // Position t predicts token t + 1: the answer's tokens are predicted from the prompt's last position on.
  const positions = Int32Array.from({ length: answer.length }, (_, j) => prompt.length - 1 + j);
  const [best, logProbs] = tf.tidy(() => {
    const logits = model.logitsAt({ rows: 1, length, inputIds, labels: inputIds, positionIds }, positions);
    const picked = tf.logSoftmax(logits).mul(tf.oneHot(tf.tensor1d(answer, 'int32'), logits.shape[1])).sum(1);
    return [logits.argMax(1), picked];
  });
  const [argmax, lp] = await Promise.all([best.data(), logProbs.data()]);
  best.dispose();
  logProbs.dispose();
  let sum = 0;
  for (const v of lp) sum += v;
  return { exact: answer.every((id, j) => argmax[j] === id), meanLogProb: sum / answer.length };
}
