/**
 * `meap train`: the loop. Shards in, unchanged: the loader's batches are the model's inputs,
 * targets and positions. Each step accumulates micro-batch gradients of the summed loss, divides
 * by the step's target count (so the loss is the mean over non-ignored targets of the whole
 * step), clips, and applies AdamW at the scheduled learning rate. The engine does the step: the
 * tfjs reference, or on WebGPU the hand-written kernels (see engine.ts).
 *
 * Covered by test/e2e/train.test.ts and test/e2e/train-webgpu.test.ts.
 */
import { configError } from '../core/errors.ts';
import { DEFAULT_MODEL, type TrainConfig } from '../schemas/train.ts';
import { selectBackend } from './backend.ts';
import { saveCheckpoint } from './checkpoint.ts';
import { type Cursor, Loader, dataIdentity, openDatasets } from './data.ts';
import { checkPrecision, createEngine } from './create-engine.ts';
import { checkModelOption, openInit } from './init.ts';
import { appendMetrics, readMetrics, rewriteMetrics, type StepMetrics, type TrainProgress } from './metrics.ts';
import { resolveModelShape } from './model-shape.ts';
import { writeLossSvg } from './plot.ts';
import { openRunDir, recipeOf } from './rundir.ts';
import { learningRate } from './schedule.ts';

export interface TrainContext {
  signal: AbortSignal;
  log: (line: string) => void;
  progress?: TrainProgress;
  /** Each checkpoint's directory, once it is complete. */
  onCheckpoint?: (dir: string) => void;
}

export async function train(cfg: TrainConfig, ctx: TrainContext): Promise<StepMetrics[]> {
  // Every argument is checked before a backend loads, and nothing is written before the engine has
  // started: a mistake is then the first and only line, and changes nothing.
  const micro = cfg.microBatch ?? cfg.batchSize;
  if (micro > cfg.batchSize) throw configError(`--micro-batch ${micro} is larger than --batch-size ${cfg.batchSize}`);
  checkPrecision(cfg.backend, cfg.precision);
  const ds = await openDatasets(cfg.data);
  const init = cfg.init === undefined ? null : await openInit(cfg.init, ds.info);
  const shape = init === null ? await resolveModelShape(cfg.model ?? DEFAULT_MODEL) : init.hf.shape;
  if (init !== null && cfg.model !== undefined) checkModelOption(init.dir, cfg.model, await resolveModelShape(cfg.model), shape);

  const { vocabSize, maskTokenId, bosId, eosId } = ds.info;
  const extra = {
    // The options a resume must repeat (rundir.ts): weights, data order, schedule, optimizer.
    ...recipeOf(cfg),
    model: init === null ? (cfg.model ?? DEFAULT_MODEL) : (cfg.model ?? null),
    shape,
    vocabRows: ds.info.vocabRows,
    tokenizerSha256: ds.info.tokenizerSha256,
    data: dataIdentity(ds),
    steps: cfg.steps,
    // What `meap export` writes into config.json and the tokenizer files.
    tokenizer: { vocabSize, maskTokenId, bosId, eosId },
    seqLen: ds.info.seqLen,
    maxPositionEmbeddings: init?.hf.maxPositionEmbeddings ?? ds.info.seqLen,
  };
  const run = await openRunDir(cfg, extra);
  const resumed = run.checkpoint;
  const backend = await selectBackend(cfg.backend);
  ctx.log(`meap train: backend ${backend.name} (${backend.detail})`);

  const adam = { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, weightDecay: cfg.weightDecay };
  const engine = await createEngine(backend, { ...shape, vocabRows: ds.info.vocabRows }, { adam, seed: cfg.seed, micro, batchSize: cfg.batchSize, seqLen: ds.info.seqLen, precision: cfg.precision });
  if (backend.device !== undefined) ctx.log(`meap train: engine ${engine.detail}`);
  const loader = new Loader(ds, { seed: cfg.seed });
  let start = 0;
  let history: StepMetrics[] = [];
  let finished = false;
  try {
    await run.prepare();
    if (resumed !== null) {
      engine.loadWeights(resumed.params);
      engine.loadOptimizer(resumed.optimizer);
      loader.restore(resumed.cursor);
      start = resumed.step;
      ctx.log(`meap train: resumed from step ${start}`);
      for (const note of run.notes) ctx.log(`meap train: ${note}`);
      history = await readMetrics(cfg.out, start);
      await rewriteMetrics(cfg.out, history);
    } else if (init !== null) {
      engine.loadWeights(await init.weights(cfg.seed));
      const grown = init.rows < init.vocabRows ? `; embedding and LM head grown from ${init.rows} to ${init.vocabRows} rows for [MASK]` : '';
      ctx.log(`meap train: initialised from ${init.dir}${grown}`);
    }

    // Where the loader stood after the last finished step: an engine may have taken the next one's batches ahead.
    let cursor: Cursor | undefined;
    const save = async (step: number) =>
      ctx.onCheckpoint?.(
        await saveCheckpoint(
          cfg.out,
          { step, params: await engine.weights(), optimizer: await engine.optimizerState(), cursor: cursor ?? loader.cursor(), extra },
          cfg.keepLast,
        ),
      );
    const guard = backend.gpu?.guard ?? (<T>(fn: () => Promise<T>) => fn());
    const gpuBytes = engine.gpuBytes ? () => engine.gpuBytes!() : backend.gpuBytes;

    ctx.progress?.start(cfg.steps, start);
    if (cfg.steps === 0 && resumed === null) {
      await save(0);
      await rewriteMetrics(cfg.out, history);
    }
    for (let step = start; step < cfg.steps; step++) {
      if (ctx.signal.aborted) break;
      const t0 = performance.now();
      const lr = learningRate(step, cfg.steps, cfg);
      const checkpointNext = (step + 1) % cfg.checkpointEvery === 0 || step + 1 === cfg.steps;
      const ahead = checkpointNext ? undefined : { rows: cfg.batchSize, micro };
      const r = await guard(() => engine.step(loader, { rows: cfg.batchSize, micro, clip: cfg.clip, lr, ahead }));
      const { lossSum, count, norm } = r;
      cursor = r.cursor;
      const seconds = (performance.now() - t0) / 1000;
      const m: StepMetrics = { step: step + 1, loss: count > 0 ? lossSum / count : 0, lr, gradNorm: norm, tokens: count, tokensPerSec: Math.round(count / seconds) };
      if (gpuBytes) m.gpuBytes = gpuBytes();
      history.push(m);
      await appendMetrics(cfg.out, m);
      ctx.progress?.update(m);
      if (checkpointNext || ctx.signal.aborted) {
        await save(step + 1);
        backend.gpu?.check();
      }
    }
    finished = !ctx.signal.aborted;
  } finally {
    ctx.progress?.stop();
    // A run that failed or stopped before its first step leaves nothing behind: its rerun starts clean.
    if (history.length > 0 || finished) await writeLossSvg(cfg.out, history);
    engine.dispose();
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  return history;
}
