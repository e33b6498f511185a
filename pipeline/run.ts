/**
 * `meap prepare`: input files are the units of work, processed in their stable order. Inside a unit,
 * documents are tokenized in batches that run in parallel with reading, and re-join in document order,
 * so the output is a pure function of (file bytes, tokenizer, config).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PrepareConfig } from '../schemas/config.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { fetchTokenizer, type HubOptions } from '../datasets/hub.ts';
import type { InputFile } from '../datasets/inputs.ts';
import { isHubUri, resolveSources } from '../datasets/sources.ts';
import { InputError, MeapError } from './errors.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { MANIFEST, WORK_DIR, isShardName, readManifest, serializeManifest, sha256File, writeFileAtomic } from './shards.ts';
import {
  describeDifference,
  lockPartition,
  readRunFile,
  readUnitResult,
  removeWorkDir,
  resolvePartition,
  writeRunFile,
  writeUnitResult,
  type RunFile,
  type RunSettings,
  type UnitResult,
} from './workstate.ts';
import { rememberTokenizer } from './tokenizer-cache.ts';
import { createEncoder, loadTokenizer, type LoadedTokenizer } from './tokenize.ts';
import { pretrainMode } from './pretrain-mode.ts';
import { sftMode } from './sft-mode.ts';
import { loadTemplate, type CompiledTemplate } from './template.ts';
import { addCounts, readUnit, sortKeys, type Mode, type RunContext, type Tokenizable } from './unit.ts';

export interface PrepareResult {
  /** The manifest, when this process finished the directory (one partition). */
  manifest: Manifest | null;
  partition: { index: number; of: number };
  unitsDone: number;
  unitsTotal: number;
}

export async function prepare(cfg: PrepareConfig, ctx: RunContext): Promise<PrepareResult> {
  // A rerun with --overwrite must not read the previous run's manifest.json as an input.
  const outDir = path.resolve(cfg.out) + path.sep;
  const files = (await resolveSources(cfg.inputs, { format: cfg.format, hub: hubOptions() })).filter((f) => !f.abs.startsWith(outDir));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const partition = resolvePartition(cfg);
  const tokenizerPath = isHubUri(cfg.tokenizer) ? await fetchTokenizer(cfg.tokenizer, hubOptions()) : cfg.tokenizer;
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
    const mode: Mode<unknown> = template === null ? pretrainMode(cfg, tok) : sftMode(cfg, tok, template);
    await runUnits(todo, cfg, tok, mode, ctx, (unit) => writeUnitResult(cfg.out, unit));
    const manifest = partition.of === 1 ? await merge(cfg.out) : null;
    return { manifest, partition, unitsDone: mine.length, unitsTotal: files.length };
  } finally {
    release();
  }
}

/** Hub settings come from the environment (HF_ENDPOINT, HF_TOKEN, MEAP_CACHE), as Hugging Face's own tools do. */
const hubOptions = (): HubOptions => ({ progress: process.stderr.isTTY, log: (line) => process.stderr.write(`meap: ${line}\n`) });

/** Everything that decides the output's bytes, in a fixed order; stored in the work state and the manifest. */
function settingsOf(cfg: PrepareConfig, tok: LoadedTokenizer, template: CompiledTemplate | null): RunSettings {
  const sft = cfg.mode === 'sft';
  return {
    mode: cfg.mode,
    format: cfg.format ?? null,
    textField: cfg.textField,
    excludeSets: [...cfg.excludeSets].sort(),
    limit: cfg.limit ?? null,
    bos: cfg.bos,
    eos: cfg.eos,
    seqLen: cfg.seqLen,
    mask: sft ? 'sft-duplicate' : cfg.mask,
    maskRatio: cfg.maskRatio,
    spanLength: cfg.spanLength,
    seed: cfg.seed,
    shardRows: cfg.shardRows,
    onError: cfg.onError,
    maxDocChars: cfg.maxDocChars,
    template: template?.name ?? null,
    templateSha256: template?.sha256 ?? null,
    minAnswerTokens: sft ? cfg.minAnswerTokens : null,
    sftLayout: sft ? cfg.sftLayout : null,
    pack: sft ? cfg.pack : null,
    tokenizer: {
      sha256: tok.sha256,
      vocabSize: tok.specials.vocabSize,
      maskTokenId: tok.specials.maskTokenId,
      bosId: tok.specials.bosId,
      eosId: tok.specials.eosId,
    },
  };
}

/**
 * A new directory gets the run's settings; an unfinished one must have been started with the same
 * settings (it is resumed); a finished one with the same settings makes the command a no-op.
 */
async function openOutDir(out: string, run: RunFile, overwrite: boolean): Promise<'fresh' | 'resume' | 'complete'> {
  let entries: string[] = [];
  try {
    entries = await fs.readdir(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new MeapError('usage', `cannot use the output directory: ${(e as NodeJS.ErrnoException).code}`, { file: out });
    }
  }
  const ours = entries.filter((e) => e === MANIFEST || e === WORK_DIR || isShardName(e));
  const foreign = entries.filter((e) => !ours.includes(e));
  if (foreign.length > 0) {
    throw new MeapError('usage', `the output directory holds files meap did not write (${foreign.slice(0, 3).join(', ')})`, { file: out }, 'choose an empty or new directory');
  }
  if (overwrite) {
    await Promise.all(ours.map((e) => fs.rm(path.join(out, e), { recursive: true, force: true })));
  } else if (entries.includes(MANIFEST)) {
    const m = await readManifest(out);
    const diff = describeDifference({ settings: run.settings, inputs: run.inputs }, { settings: m.settings, inputs: m.inputs.map((i) => i.path) });
    if (diff !== null) throw new MeapError('usage', `the output directory was prepared differently: ${diff}`, { file: out }, 'pass --overwrite to start over, or choose another --out');
    // The manifest is written last: work state beside it is what a kill between the two left behind.
    if (entries.includes(WORK_DIR)) await removeWorkDir(out);
    return 'complete';
  } else if (entries.includes(WORK_DIR)) {
    const prior = await readRunFile(out);
    if (prior !== null) {
      const diff = describeDifference(run, prior);
      if (diff !== null) throw new MeapError('usage', `the output directory holds an unfinished run with other settings: ${diff}`, { file: out }, 'rerun that command to finish it, or pass --overwrite to start over');
      return 'resume';
    }
  } else if (ours.length > 0) {
    throw new MeapError('usage', 'the output directory holds shards without a manifest or work state', { file: out }, 'pass --overwrite to start over');
  }
  await fs.mkdir(out, { recursive: true });
  await writeRunFile(out, run);
  return 'fresh';
}

/**
 * `meap merge` (and the end of a single-partition run): every input's completion record → the
 * manifest, in input order, so the result is byte-identical to a single-process run.
 */
export async function merge(dir: string): Promise<Manifest> {
  const run = await readRunFile(dir);
  if (run === null) {
    if (await fs.access(path.join(dir, MANIFEST)).then(() => true, () => false)) return readManifest(dir);
    throw new MeapError('usage', 'no meap work state here', { file: dir }, 'run `meap prepare` into this directory first');
  }
  const units: UnitResult[] = [];
  const missing: string[] = [];
  for (const rel of run.inputs) {
    const u = await readUnitResult(dir, rel);
    if (u === null) missing.push(rel);
    else units.push(u);
  }
  if (missing.length > 0) {
    throw new MeapError('usage', `${missing.length} of ${run.inputs.length} inputs are not finished (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`, { file: dir }, 'run the remaining partitions of `meap prepare` first');
  }
  const manifest = run.settings.mode === 'sft' ? sftManifest(run.settings, units) : pretrainManifest(run.settings, units);
  // Shards of an earlier, overwritten attempt that no record lists would make the directory ambiguous.
  const listed = new Set(manifest.shards.map((s) => s.file));
  for (const name of await fs.readdir(dir)) if (name.endsWith('.arrow') && !listed.has(name)) await fs.rm(path.join(dir, name), { force: true });
  await writeFileAtomic(dir, MANIFEST, serializeManifest(manifest));
  await removeWorkDir(dir);
  return manifest;
}

async function runUnits(
  files: InputFile[],
  cfg: PrepareConfig,
  tok: LoadedTokenizer,
  mode: Mode<unknown>,
  ctx: RunContext,
  onUnit: (unit: UnitResult) => Promise<void>,
): Promise<void> {
  const encoder = await createEncoder(tok, cfg.engine, cfg.workers);
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

function common(st: RunSettings, units: UnitResult[]) {
  const shards = units.flatMap((u) => u.shards);
  const sum = (key: 'rows' | 'tokens' | 'maskedTokens') => shards.reduce((s, x) => s + x[key], 0);
  const skippedOf = (u: UnitResult) => sortKeys(addCounts({ ...u.read.skipped }, u.skipped));
  return {
    head: {
      format: 'meap-shards' as const,
      version: 1 as const,
      seqLen: st.seqLen,
      seed: st.seed,
      tokenizer: st.tokenizer,
      settings: st,
    },
    shards,
    inputOf: (u: UnitResult) => ({ path: u.path, sha256: u.sha256, records: u.read.records }),
    skippedOf,
    totals: { rows: sum('rows'), tokens: sum('tokens'), maskedTokens: sum('maskedTokens') },
    skipped: sortKeys(units.reduce((acc, u) => addCounts(acc, skippedOf(u)), {} as Record<string, number>)),
  };
}

function pretrainManifest(st: RunSettings, units: UnitResult[]): Manifest {
  const c = common(st, units);
  return {
    ...c.head,
    mode: 'pretrain',
    masking: { strategy: st.mask as 'random' | 'span' | 'none', ratio: st.maskRatio, spanLength: st.spanLength },
    document: { bos: st.bos, eos: st.eos, textField: st.textField, excludeSets: st.excludeSets },
    inputs: units.map((u) => ({ ...c.inputOf(u), documents: u.read.items, skipped: c.skippedOf(u) })),
    shards: c.shards,
    totals: { ...c.totals, documents: units.reduce((s, u) => s + u.read.items, 0), skipped: c.skipped },
  };
}

function sftManifest(st: RunSettings, units: UnitResult[]): Manifest {
  const c = common(st, units);
  const total = (key: string) => units.reduce((s, u) => s + (u.counts[key] ?? 0), 0);
  return {
    ...c.head,
    mode: 'sft',
    masking: { strategy: 'sft-duplicate', ratio: st.maskRatio, minAnswerTokens: st.minAnswerTokens!, layout: st.sftLayout as 'concat' | 'separate' },
    sft: { template: st.template!, templateSha256: st.templateSha256, pack: st.pack!, bos: st.bos, eos: st.eos },
    inputs: units.map((u) => ({ ...c.inputOf(u), examples: u.read.items, skipped: c.skippedOf(u) })),
    shards: c.shards,
    totals: {
      ...c.totals,
      examples: units.reduce((s, u) => s + u.read.items, 0),
      duplicated: total('duplicated'),
      ntpOnly: total('ntpOnly'),
      truncated: total('truncated'),
      layoutFallbacks: total('layoutFallbacks'),
      skipped: c.skipped,
    },
  };
}
