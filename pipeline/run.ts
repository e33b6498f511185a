/**
 * `meap prepare`: input files are the units of work, processed in their stable order. Inside a unit,
 * documents are tokenized in batches that run in parallel with reading, and re-join in document order,
 * so the output is a pure function of (file bytes, tokenizer, config).
 *
 * Covered end to end, through the CLI: test/e2e/prepare.test.ts (identical bytes across runs, worker
 * counts and engines), test/e2e/resume.test.ts (kills, resumes, partitions, refused reruns, the
 * partition lock) and test/e2e/golden-rows.test.ts (the rows of both modes, pinned).
 */
import * as path from 'node:path';
import { MeapError } from '../core/errors.ts';
import { fetchTokenizer } from '../datasets/hub/download.ts';
import type { HubOptions } from '../datasets/hub/http.ts';
import { isHubUri } from '../datasets/hub/uri.ts';
import { describeSkipped } from '../datasets/inputs.ts';
import { readManifest } from '../datasets/shards/read.ts';
import { resolveSources } from '../datasets/sources.ts';
import type { InputFile, SkippedFile } from '../datasets/types.ts';
import type { Manifest } from '../schemas/manifest.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import type { RunFile, UnitResult } from '../schemas/workstate.ts';
import { checkSpanFits } from './mask-share.ts';
import { merge } from './build-manifest.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { discardIfNothingDone, openOutDir } from './outdir.ts';
import { modeOf } from './modes.ts';
import { settingsOf } from './settings.ts';
import { compileTemplate, frameWithTemplate, type CompiledTemplate, type TemplateSource } from './template.ts';
import { readTemplate } from './template-file.ts';
import { rememberTokenizer } from './tokenize/tokenizer-copies.ts';
import { createEncoder, resolveEngine } from './tokenize/tokenizer-engines.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenize/load.ts';
import { queueUnit, type Mode, type RunContext } from './unit.ts';
import { runUnitsInWorkers } from './unit-pool.ts';
import { lockPartition } from './workstate/locks.ts';
import { inPartition, resolvePartition } from './workstate/partition.ts';
import { readUnitResult, writeUnitResult } from './workstate/run-records.ts';

export interface PrepareContext extends RunContext {
  /** How hub inputs and hub tokenizers are fetched (endpoint, token, progress, log). */
  hub: HubOptions;
  /** One-line notices, such as the engine falling back to native. */
  log?: (line: string) => void;
  /** The command line after `meap`, kept in the work state for `meap status` to print the command that finishes the run. */
  argv?: string[];
}

export interface PrepareResult {
  /** The manifest, when this process finished the directory (one partition). */
  manifest: Manifest | null;
  partition: { index: number; of: number };
  unitsDone: number;
  unitsTotal: number;
  /** The directory was finished before this command: nothing was done. */
  alreadyComplete: boolean;
}

/**
 * The files a `prepare` reads, in input order, and those its inputs put in reach that it leaves out,
 * with why. Files inside `--out` are left out: a rerun with --overwrite must not read the previous
 * run's manifest.json as an input, nor report its shards as skipped.
 */
async function inputsOf(cfg: PrepareConfig, hub: HubOptions): Promise<{ files: InputFile[]; skipped: SkippedFile[] }> {
  const outDir = path.resolve(cfg.out) + path.sep;
  const inside = (file: string) => file.startsWith(outDir);
  const found = await resolveSources(cfg.inputs, { format: cfg.format, hub });
  const files = found.files.filter((f) => !inside(f.abs));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const skipped: SkippedFile[] = [
    ...found.skipped.filter((s) => !inside(s.file)),
    ...found.files.filter((f) => inside(f.abs)).map((f) => ({ file: f.abs, size: f.size, reason: 'insideOutput' as const })),
  ];
  return { files, skipped };
}

/** What a run settles before it touches --out: its inputs, partition, tokenizer, template and the settings it records. */
export interface RunPlan {
  files: InputFile[];
  skipped: SkippedFile[];
  partition: { index: number; of: number };
  tok: LoadedTokenizer;
  templateSource: TemplateSource | null;
  template: CompiledTemplate | null;
  run: RunFile;
}

/** Everything `prepare` checks before it writes, in the same order: a dry run stops here. */
export async function planRun(cfg: PrepareConfig, ctx: Pick<PrepareContext, 'hub' | 'argv'>): Promise<RunPlan> {
  if (cfg.mode === 'pretrain') checkSpanFits(cfg);
  const { files, skipped } = await inputsOf(cfg, ctx.hub);
  const partition = resolvePartition(cfg);
  const tokenizerPath = isHubUri(cfg.tokenizer) ? await fetchTokenizer(cfg.tokenizer, ctx.hub) : cfg.tokenizer;
  const loaded = await loadTokenizer(tokenizerPath, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  const templateSource = cfg.mode === 'sft' ? await readTemplate(cfg.template) : null;
  const template = templateSource === null ? null : compileTemplate(templateSource, loaded);
  const tok = template === null ? loaded : frameWithTemplate(loaded, template, cfg);
  const command = ctx.argv === undefined ? undefined : { cwd: process.cwd(), argv: ctx.argv, partitions: partition.of };
  return { files, skipped, partition, tok, templateSource, template, run: { settings: settingsOf(cfg, tok, template), inputs: files.map((f) => f.rel), command } };
}

export async function prepare(cfg: PrepareConfig, ctx: PrepareContext): Promise<PrepareResult> {
  const { files, skipped, partition, tok, templateSource, template, run } = await planRun(cfg, ctx);
  const notice = describeSkipped(skipped);
  if (notice !== null) ctx.log?.(notice);

  const state = await openOutDir(cfg.out, run, cfg.overwrite);
  if (state === 'complete') {
    return { manifest: await readManifest(cfg.out), partition, unitsDone: files.length, unitsTotal: files.length, alreadyComplete: true };
  }
  const release = await lockPartition(cfg.out, partition.index, partition.of);
  let result: PrepareResult;
  try {
    await rememberTokenizer(tok.path, tok.sha256);
    const mine = files.filter((_, i) => inPartition(i, partition));
    const todo: InputFile[] = [];
    for (const f of mine) if ((await readUnitResult(cfg.out, f.rel)) === null) todo.push(f);
    await runUnits(todo, cfg, tok, templateSource, modeOf(cfg, tok, template), ctx, (unit) => writeUnitResult(cfg.out, unit));
    const manifest = partition.of === 1 ? await merge(cfg.out) : null;
    result = { manifest, partition, unitsDone: mine.length, unitsTotal: files.length, alreadyComplete: false };
  } catch (e) {
    // Released first: this partition's own lock would count as one at work, and keep the work state.
    release();
    await discardIfNothingDone(cfg.out);
    throw e;
  }
  release();
  return result;
}

/**
 * A worker thread costs ~0.1 s to start (its bundle, its share of the tables), about what one takes to
 * tokenize a megabyte: input smaller than that per thread is done sooner by fewer threads. The output
 * is the same for any count.
 */
const BYTES_PER_THREAD = 1 << 20;

/** The threads a run of `bytes` of input gets out of --workers. */
const threadsFor = (bytes: number, workers: number) => Math.max(1, Math.min(workers, Math.ceil(bytes / BYTES_PER_THREAD)));

async function runUnits(
  files: InputFile[],
  given: PrepareConfig,
  tok: LoadedTokenizer,
  template: TemplateSource | null,
  mode: Mode<unknown>,
  ctx: PrepareContext,
  onUnit: (unit: UnitResult) => Promise<void>,
): Promise<void> {
  const bytes = files.reduce((s, f) => s + f.size, 0);
  const cfg = { ...given, workers: threadsFor(bytes, given.workers) };
  const engine = await resolveEngine(tok, cfg.engine);
  if (engine.engine !== 'bpe' && engine.fallback) ctx.log?.(engine.fallback);
  const counters = { items: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(bytes, files.length, cfg.mode === 'sft' ? 'examples' : 'docs');
  const finished = async (unit: UnitResult) => {
    await onUnit(unit);
    ctx.progress.fileDone();
  };
  try {
    // Many files: each worker takes whole files, so nothing per token is left to this thread. One
    // file (or an engine that runs only here): this thread reads and packs, and workers tokenize.
    if (engine.engine === 'bpe' && cfg.workers > 1 && files.length > 1) {
      await runUnitsInWorkers(files, cfg, tok, template, engine.model, ctx, counters, finished);
      return;
    }
    const encoder = await createEncoder(tok, engine, cfg.workers);
    const queue = new OrderedQueue(2 * cfg.workers + 1);
    try {
      for (const file of files) await queueUnit(file, cfg, mode, encoder, queue, ctx, counters, finished);
      await queue.drain();
    } catch (e) {
      await queue.abandon();
      throw e;
    } finally {
      await encoder.close();
    }
  } finally {
    ctx.progress.stop();
  }
}
