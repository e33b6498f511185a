/**
 * `meap train`: the loop. Shards in, unchanged: the loader's batches are the model's inputs,
 * targets and positions. Each step accumulates micro-batch gradients of the summed loss, divides
 * by the step's target count (so the loss is the mean over non-ignored targets of the whole
 * step), clips, and applies AdamW at the scheduled learning rate.
 *
 * Tested by test/e2e/train.test.ts (`train`: the whole loop through the CLI, with resume after a
 * SIGKILL), test/trainer/loop.test.ts (`optimizerStep`), and test/trainer/model.test.ts and
 * kernels.test.ts (`lossAndGrads`).
 */
import * as tf from '@tensorflow/tfjs';
import { configError } from '../core/errors.ts';
import type { TrainConfig } from '../schemas/train.ts';
import { selectBackend } from './backend.ts';
import { saveCheckpoint } from './checkpoint.ts';
import { Loader, openDatasets, type Batch } from './data.ts';
import { appendMetrics, readMetrics, rewriteMetrics, type StepMetrics, type TrainProgress } from './metrics.ts';
import { LlamaModel, shiftedTargets } from './model.ts';
import { resolveModelShape } from './model-shape.ts';
import { accumulate, clipScale, createOptimizer, squaredNorm, type Optimizer } from './optim.ts';
import { writeLossSvg } from './plot.ts';
import { openRunDir } from './rundir.ts';
import { learningRate } from './schedule.ts';

export interface TrainContext {
  signal: AbortSignal;
  log: (line: string) => void;
  progress?: TrainProgress;
}

export async function train(cfg: TrainConfig, ctx: TrainContext): Promise<StepMetrics[]> {
  const backend = await selectBackend(cfg.backend);
  ctx.log(`meap train: backend ${backend.name} (${backend.detail})`);
  const ds = await openDatasets(cfg.data);
  const shape = await resolveModelShape(cfg.model);
  const micro = cfg.microBatch ?? cfg.batchSize;
  if (micro > cfg.batchSize) throw configError(`--micro-batch ${micro} is larger than --batch-size ${cfg.batchSize}`);

  const extra = {
    model: cfg.model,
    shape,
    vocabRows: ds.info.vocabRows,
    tokenizerSha256: ds.info.tokenizerSha256,
    seed: cfg.seed,
    steps: cfg.steps,
    batchSize: cfg.batchSize,
  };
  const resumed = await openRunDir(cfg, extra);

  const model = new LlamaModel({ ...shape, vocabRows: ds.info.vocabRows }, cfg.seed);
  const adam = { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay };
  const optim = createOptimizer(backend.name, model.params, adam);
  const loader = new Loader(ds, { seed: cfg.seed });
  let start = 0;
  if (resumed !== null) {
    model.loadWeights(resumed.params);
    optim.load(resumed.optimizer);
    loader.restore(resumed.cursor);
    start = resumed.step;
    ctx.log(`meap train: resumed from step ${start}`);
  }
  const history = await readMetrics(cfg.out, start);
  await rewriteMetrics(cfg.out, history);

  const save = async (step: number) =>
    saveCheckpoint(
      cfg.out,
      {
        step,
        // Read without blocking: WebGPU in Node has no synchronous reads.
        params: await Promise.all(model.params.map(async (p) => ({ name: p.name, shape: p.variable.shape, data: (await p.variable.data()) as Float32Array }))),
        optimizer: await optim.state(),
        cursor: loader.cursor(),
        extra,
      },
      cfg.keepLast,
    );
  const guard = backend.gpu?.guard ?? (<T>(fn: () => Promise<T>) => fn());

  ctx.progress?.start(cfg.steps, start);
  try {
    for (let step = start; step < cfg.steps; step++) {
      if (ctx.signal.aborted) break;
      const t0 = performance.now();
      const lr = learningRate(step, cfg.steps, cfg);
      const { lossSum, count, norm } = await guard(() => optimizerStep(model, optim, loader, { rows: cfg.batchSize, micro, clip: cfg.clip, lr }));
      const seconds = (performance.now() - t0) / 1000;
      const m: StepMetrics = { step: step + 1, loss: count > 0 ? lossSum / count : 0, lr, gradNorm: norm, tokens: count, tokensPerSec: Math.round(count / seconds) };
      if (backend.gpuBytes) m.gpuBytes = backend.gpuBytes();
      history.push(m);
      await appendMetrics(cfg.out, m);
      ctx.progress?.update(m);
      if ((step + 1) % cfg.checkpointEvery === 0 || step + 1 === cfg.steps || ctx.signal.aborted) {
        await save(step + 1);
        backend.gpu?.check();
      }
    }
  } finally {
    ctx.progress?.stop();
    await writeLossSvg(cfg.out, history, `meap train ${cfg.model}`);
    model.dispose();
    optim.dispose();
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return history;
}

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
