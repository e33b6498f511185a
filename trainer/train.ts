/**
 * `meap train`: the loop. Shards in, unchanged: the loader's batches are the model's inputs,
 * targets and positions. Each step accumulates micro-batch gradients of the summed loss, divides
 * by the step's target count (so the loss is the mean over non-ignored targets of the whole
 * step), clips, and applies AdamW at the scheduled learning rate.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ModelShapeSchema, PRESETS, type ModelShape, type TrainConfig } from '../schemas/train.ts';
import { MeapError, configError } from '../pipeline/errors.ts';
import { selectBackend } from './backend.ts';
import { loadLatestCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.ts';
import { Loader, openDatasets } from './data.ts';
import { LlamaModel, lossAndGrads } from './model.ts';
import { accumulate, createOptimizer, globalNorm, type Optimizer } from './optim.ts';
import { lossSvg } from './plot.ts';
import { learningRate } from './schedule.ts';
import type { TrainProgress } from './progress.ts';

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerSec: number;
}

export interface TrainContext {
  signal: AbortSignal;
  log: (line: string) => void;
  progress?: TrainProgress;
}

export const METRICS = 'metrics.jsonl';
export const LOSS_SVG = 'loss.svg';

export async function resolveModelShape(spec: string): Promise<ModelShape> {
  if (Object.hasOwn(PRESETS, spec)) return PRESETS[spec as keyof typeof PRESETS];
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(spec, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw configError(`--model ${spec}: not a preset (${Object.keys(PRESETS).join(', ')}) and not a readable JSON file (${why})`);
  }
  const parsed = ModelShapeSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw configError(`--model ${spec}: ${issue.path.join('.') || 'file'}: ${issue.message}`, 'expected {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}');
  }
  return parsed.data;
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
    restore(model, optim, loader, resumed);
    start = resumed.step;
    ctx.log(`meap train: resumed from step ${start}`);
  }
  const history = await readMetrics(cfg.out, start);
  await rewriteMetrics(cfg.out, history);

  const save = (step: number) =>
    saveCheckpoint(
      cfg.out,
      {
        step,
        params: model.params.map((p) => ({ name: p.name, shape: p.variable.shape, data: p.variable.dataSync() as Float32Array })),
        optimizer: optim.state(),
        cursor: loader.cursor(),
        extra,
      },
      cfg.keepLast,
    );

  ctx.progress?.start(cfg.steps, start);
  try {
    for (let step = start; step < cfg.steps; step++) {
      if (ctx.signal.aborted) break;
      const t0 = performance.now();
      const lr = learningRate(step, cfg.steps, cfg);
      const { lossSum, count, norm } = await optimizerStep(model, optim, loader, { rows: cfg.batchSize, micro, clip: cfg.clip, lr });
      const seconds = (performance.now() - t0) / 1000;
      const m: StepMetrics = { step: step + 1, loss: count > 0 ? lossSum / count : 0, lr, gradNorm: norm, tokens: count, tokensPerSec: Math.round(count / seconds) };
      history.push(m);
      await fs.appendFile(path.join(cfg.out, METRICS), `${JSON.stringify(m)}\n`);
      ctx.progress?.update(m);
      if ((step + 1) % cfg.checkpointEvery === 0 || step + 1 === cfg.steps || ctx.signal.aborted) await save(step + 1);
    }
  } finally {
    ctx.progress?.stop();
    await fs.writeFile(path.join(cfg.out, LOSS_SVG), lossSvg(history, `meap train ${cfg.model}`));
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
 */
export async function optimizerStep(
  model: LlamaModel,
  optim: Optimizer,
  loader: Loader,
  o: { rows: number; micro: number; clip: number; lr: number },
): Promise<{ lossSum: number; count: number; norm: number }> {
  let acc: tf.Tensor[] | null = null;
  let lossSum = 0;
  let count = 0;
  for (let done = 0; done < o.rows; done += o.micro) {
    const batch = await loader.next(Math.min(o.micro, o.rows - done));
    const r = lossAndGrads(model, batch);
    if (acc === null) acc = r.grads;
    else {
      acc = accumulate(acc, r.grads);
      r.grads.forEach((g) => g.dispose());
    }
    lossSum += r.lossSum;
    count += r.count;
  }
  const scale = count > 0 ? 1 / count : 0;
  const norm = globalNorm(acc!) * scale;
  if (!Number.isFinite(norm)) {
    // An overflowed step would poison every weight through AdamW's moments: skip its update.
    acc!.forEach((g) => g.dispose());
    return { lossSum, count, norm };
  }
  const factor = scale * (o.clip > 0 && norm > o.clip ? o.clip / norm : 1);
  const grads = acc!.map((g) => {
    const scaled = tf.tidy(() => g.mul(factor));
    g.dispose();
    return scaled;
  });
  optim.apply(grads, o.lr);
  grads.forEach((g) => g.dispose());
  return { lossSum, count, norm };
}

/** A new run needs an empty directory; --resume needs the same model and data as the checkpoint. */
async function openRunDir(cfg: TrainConfig, extra: Record<string, unknown>): Promise<CheckpointState | null> {
  const entries = await fs.readdir(cfg.out).catch(() => [] as string[]);
  if (!cfg.resume) {
    if (entries.length > 0) {
      throw new MeapError('usage', 'the run directory is not empty', { file: cfg.out }, 'pass --resume to continue that run, or choose another --out');
    }
    await fs.mkdir(cfg.out, { recursive: true });
    return null;
  }
  await fs.mkdir(cfg.out, { recursive: true });
  const ckpt = await loadLatestCheckpoint(cfg.out);
  if (ckpt === null) return null;
  for (const key of ['model', 'vocabRows', 'tokenizerSha256', 'seed', 'batchSize'] as const) {
    const was = JSON.stringify(ckpt.extra[key]);
    const now = JSON.stringify(extra[key]);
    if (was !== now) {
      throw new MeapError('usage', `--resume: the checkpoint was trained with ${key} ${was}, this command gives ${now}`, { file: cfg.out }, 'resume with the same settings, or start a new run');
    }
  }
  return ckpt;
}

function restore(model: LlamaModel, optim: Optimizer, loader: Loader, ckpt: CheckpointState): void {
  loadWeights(model, ckpt);
  optim.load(ckpt.optimizer);
  loader.restore(ckpt.cursor);
}

/** A checkpoint's weights into the model, by parameter name, refusing a checkpoint of another shape. */
export function loadWeights(model: LlamaModel, ckpt: CheckpointState): void {
  const byName = new Map(ckpt.params.map((p) => [p.name, p]));
  for (const p of model.params) {
    const saved = byName.get(p.name);
    if (saved === undefined || saved.shape.join('x') !== p.variable.shape.join('x')) {
      throw configError(`the checkpoint has no parameter ${p.name} of shape [${p.variable.shape}]`);
    }
    tf.tidy(() => p.variable.assign(tf.tensor(saved.data, saved.shape, 'float32')));
  }
}

/** The history up to `upTo` steps: steps after the last checkpoint were lost with the process and are redone. */
export async function readMetrics(runDir: string, upTo = Infinity): Promise<StepMetrics[]> {
  let text = '';
  try {
    text = await fs.readFile(path.join(runDir, METRICS), 'utf8');
  } catch {
    return [];
  }
  const out: StepMetrics[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const m = JSON.parse(line) as StepMetrics;
      if (m.step <= upTo) out.push(m);
    } catch {
      // A line cut by a kill mid-write: the step it belonged to is redone.
    }
  }
  return out;
}

async function rewriteMetrics(runDir: string, history: StepMetrics[]): Promise<void> {
  const tmp = path.join(runDir, `${METRICS}.tmp`);
  await fs.writeFile(tmp, history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  await fs.rename(tmp, path.join(runDir, METRICS));
}
