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
import { InputError, MeapError } from '../core/errors.ts';
import { sha256File } from '../core/hash.ts';
import { fetchTokenizer } from '../datasets/hub/download.ts';
import type { HubOptions } from '../datasets/hub/http.ts';
import { isHubUri } from '../datasets/hub/uri.ts';
import { readManifest } from '../datasets/shards/read.ts';
import { resolveSources } from '../datasets/sources.ts';
import type { InputFile } from '../datasets/types.ts';
import type { Manifest } from '../schemas/manifest.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import type { UnitResult } from '../schemas/workstate.ts';
import { merge } from './merge.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { openOutDir } from './outdir.ts';
import { pretrainMode } from './pretrain-mode.ts';
import { settingsOf } from './settings.ts';
import { sftMode } from './sft-mode.ts';
import { loadTemplate } from './template.ts';
import { rememberTokenizer } from './tokenize/cache.ts';
import { createEncoder, resolveEngine } from './tokenize/engines.ts';
import { loadTokenizer, type LoadedTokenizer } from './tokenize/load.ts';
import { readUnit, type Mode, type RunContext, type Tokenizable } from './unit.ts';
import { lockPartition } from './workstate/locks.ts';
import { resolvePartition } from './workstate/partition.ts';
import { readUnitResult, writeUnitResult } from './workstate/records.ts';

export interface PrepareContext extends RunContext {
  /** How hub inputs and hub tokenizers are fetched (endpoint, token, progress, log). */
  hub: HubOptions;
  /** One-line notices, such as the engine falling back to native. */
  log?: (line: string) => void;
}

export interface PrepareResult {
  /** The manifest, when this process finished the directory (one partition). */
  manifest: Manifest | null;
  partition: { index: number; of: number };
  unitsDone: number;
  unitsTotal: number;
}

export async function prepare(cfg: PrepareConfig, ctx: PrepareContext): Promise<PrepareResult> {
  // A rerun with --overwrite must not read the previous run's manifest.json as an input.
  const outDir = path.resolve(cfg.out) + path.sep;
  const files = (await resolveSources(cfg.inputs, { format: cfg.format, hub: ctx.hub })).filter((f) => !f.abs.startsWith(outDir));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const partition = resolvePartition(cfg);
  const tokenizerPath = isHubUri(cfg.tokenizer) ? await fetchTokenizer(cfg.tokenizer, ctx.hub) : cfg.tokenizer;
  const tok = await loadTokenizer(tokenizerPath, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  const template = cfg.mode === 'sft' ? await loadTemplate(cfg.template, tok) : null;
  const run = { settings: settingsOf(cfg, tok, template), inputs: files.map((f) => f.rel) };

  const state = await openOutDir(cfg.out, run, cfg.overwrite);
  if (state === 'complete') {
    return { manifest: await readManifest(cfg.out), partition, unitsDone: files.length, unitsTotal: files.length };
  }
  const release = await lockPartition(cfg.out, partition.index, partition.of);
  try {
    await rememberTokenizer(tokenizerPath, tok.sha256);
    const mine = files.filter((_, i) => i % partition.of === partition.index);
    const todo: InputFile[] = [];
    for (const f of mine) if ((await readUnitResult(cfg.out, f.rel)) === null) todo.push(f);
    const mode: Mode<unknown> = cfg.mode === 'pretrain' ? pretrainMode(cfg, tok) : sftMode(cfg, tok, template!);
    await runUnits(todo, cfg, tok, mode, ctx, (unit) => writeUnitResult(cfg.out, unit));
    const manifest = partition.of === 1 ? await merge(cfg.out) : null;
    return { manifest, partition, unitsDone: mine.length, unitsTotal: files.length };
  } finally {
    release();
  }
}

async function runUnits(
  files: InputFile[],
  cfg: PrepareConfig,
  tok: LoadedTokenizer,
  mode: Mode<unknown>,
  ctx: PrepareContext,
  onUnit: (unit: UnitResult) => Promise<void>,
): Promise<void> {
  const engine = resolveEngine(tok, cfg.engine);
  if (engine.engine !== 'bpe' && engine.fallback) ctx.log?.(engine.fallback);
  const encoder = await createEncoder(tok, engine, cfg.workers);
  const counters = { items: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(files.reduce((s, f) => s + f.size, 0), files.length, cfg.mode === 'sft' ? 'examples' : 'docs');
  const queue = new OrderedQueue(2 * cfg.workers + 1);
  try {
    for (const file of files) {
      // The mask seed needs the file's hash before its first row, so hash in a pass of its own.
      const sha256 = await sha256File(file.abs).catch((e: NodeJS.ErrnoException) => {
        throw new InputError('unreadableFile', `cannot read: ${e.code ?? e.message}`, { file: file.rel });
      });
      const sink = mode.sink(file, sha256, counters);
      const submit = (batch: Tokenizable<unknown>[]) => {
        const encoded = encoder.encodeBatch(batch.flatMap((t) => t.texts));
        return queue.push(encoded, (flat) => {
          let at = 0;
          const ids = batch.map((t) => flat.slice(at, (at += t.texts.length)));
          return sink.add(
            batch.map((t) => t.item),
            ids,
          );
        });
      };
      const read = await readUnit(file, cfg, ctx, counters, mode, submit);
      const finishUnit = async () => {
        await onUnit({ path: file.rel, sha256, read, ...(await sink.finish()) });
        ctx.progress.fileDone();
      };
      await queue.push(Promise.resolve(), finishUnit, 0);
    }
    await queue.drain();
  } catch (e) {
    await queue.abandon();
    throw e;
  } finally {
    ctx.progress.stop();
    await encoder.close();
  }
}

