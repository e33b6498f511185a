/**
 * The reference engine's step, with tfjs autograd: micro-batch gradients of the summed loss,
 * accumulated, scaled once to the mean and clipped, then AdamW.
 *
 * Covered by test/trainer/loop.test.ts (optimizerStep) and test/trainer/model.test.ts (lossAndGrads).
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Loader } from './data.ts';
import { shiftedTargets, type LlamaModel } from './model.ts';
import { accumulate, clipScale, squaredNorm, type Optimizer } from './optim.ts';

/**
 * One optimizer step: micro-batch gradients of the summed loss are accumulated, then scaled once
 * by 1/targets (the mean) and by the clipping factor together, one tensor at a time, so that at
 * most one extra copy of a gradient exists besides the accumulator: the 100m model's weights,
 * gradients and moments only just fit in the wasm heap.
 *
 * The host waits on the device once: for the micro-batches' loss sums and the squared gradient norm,
 * read together. The clipping factor needs the norm, so the update is queued after that read.
 */
export async function optimizerStep(
  model: LlamaModel,
  optim: Optimizer,
  loader: Loader,
  o: { rows: number; micro: number; clip: number; lr: number },
): Promise<{ lossSum: number; count: number; norm: number }> {
  let acc: tf.Tensor[] | null = null;
  const losses: tf.Scalar[] = [];
  let count = 0;
  for (let done = 0; done < o.rows; done += o.micro) {
    const batch = await loader.next(Math.min(o.micro, o.rows - done));
    const r = lossAndGrads(model, batch);
    if (acc === null) acc = r.grads;
    else {
      acc = accumulate(acc, r.grads);
      r.grads.forEach((g) => g.dispose());
    }
    losses.push(r.lossSum);
    count += r.count;
  }
  const normSq = squaredNorm(acc!);
  const packed = tf.tidy(() => tf.stack([...losses, normSq]));
  tf.dispose([...losses, normSq]);
  const read = (await packed.data()) as Float32Array;
  packed.dispose();
  // Summed in doubles, micro-batch by micro-batch, as the losses come off the device.
  let lossSum = 0;
  for (let i = 0; i < losses.length; i++) lossSum += read[i];
  const scale = count > 0 ? 1 / count : 0;
  const norm = Math.sqrt(read[losses.length]) * scale;
  if (!Number.isFinite(norm)) {
    // An overflowed step would poison every weight through AdamW's moments: skip its update.
    acc!.forEach((g) => g.dispose());
    return { lossSum, count, norm };
  }
  const factor = scale * clipScale(norm, o.clip);
  const grads = acc!.map((g) => {
    const scaled = tf.tidy(() => g.mul(factor));
    g.dispose();
    return scaled;
  });
  optim.apply(grads, o.lr);
  grads.forEach((g) => g.dispose());
  return { lossSum, count, norm };
}

/**
 * One micro-batch: the loss sum (a scalar still on the device) and its gradients, aligned with
 * model.params. The caller disposes all of them.
 */
export function lossAndGrads(model: LlamaModel, batch: Batch): { lossSum: tf.Scalar; count: number; grads: tf.Tensor[] } {
  const vars = model.params.map((p) => p.variable);
  // With no scored target the loss is a constant, which tf.variableGrads rejects; its gradient is zero.
  if (shiftedTargets(batch).targets.length === 0) {
    return { lossSum: tf.scalar(0), count: 0, grads: vars.map((v) => tf.zerosLike(v)) };
  }
  let count = 0;
  const { value, grads } = tf.variableGrads(() => {
    const r = model.lossSum(batch);
    count = r.count;
    return r.sum;
  }, vars);
  return { lossSum: value, count, grads: vars.map((v) => grads[v.name]) };
}
