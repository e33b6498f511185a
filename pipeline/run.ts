/**
 * `meap prepare`: input files are the units of work, processed in their stable order. Inside a unit,
 * documents are tokenized in batches that run in parallel with reading, and re-join in document order,
 * so the output is a pure function of (file bytes, tokenizer, config).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PrepareConfig } from '../schemas/config.ts';
import type { Manifest, ShardEntry } from '../schemas/manifest.ts';
import { resolveInputs, type InputFile } from '../datasets/inputs.ts';
import { InputError, MeapError } from './errors.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { MANIFEST, WORK_DIR, serializeManifest, sha256File, writeFileAtomic } from './shards.ts';
import { rememberTokenizer } from './tokenizer-cache.ts';
import { createEncoder, loadTokenizer, type LoadedTokenizer } from './tokenize.ts';
import { pretrainMode } from './pretrain-mode.ts';
import { sftMode } from './sft-mode.ts';
import { loadTemplate, type CompiledTemplate } from './template.ts';
import { addCounts, readUnit, sortKeys, type Mode, type ReadStats, type RunContext, type Tokenizable } from './unit.ts';

export async function prepare(cfg: PrepareConfig, ctx: RunContext): Promise<Manifest> {
  // A rerun with --overwrite must not read the previous run's manifest.json as an input.
  const outDir = path.resolve(cfg.out) + path.sep;
  const files = (await resolveInputs(cfg.inputs, { format: cfg.format })).files.filter((f) => !f.abs.startsWith(outDir));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const tok = await loadTokenizer(cfg.tokenizer, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  const template = cfg.mode === 'sft' ? await loadTemplate(cfg.template, tok) : null;
  await prepareOutDir(cfg.out, cfg.overwrite);
  await rememberTokenizer(cfg.tokenizer, tok.sha256);
  const mode: Mode<unknown> = template === null ? pretrainMode(cfg, tok) : sftMode(cfg, tok, template);
  const units = await runUnits(files, cfg, tok, mode, ctx);
  const manifest = template === null ? pretrainManifest(cfg, tok, units) : sftManifest(cfg, tok, template, units);
  await writeFileAtomic(cfg.out, MANIFEST, serializeManifest(manifest));
  await fs.rm(path.join(cfg.out, WORK_DIR), { recursive: true, force: true });
  return manifest;
}

interface UnitResult {
  path: string;
  sha256: string;
  read: ReadStats;
  shards: ShardEntry[];
  counts: Record<string, number>;
  skipped: Record<string, number>;
}

async function runUnits(files: InputFile[], cfg: PrepareConfig, tok: LoadedTokenizer, mode: Mode<unknown>, ctx: RunContext): Promise<UnitResult[]> {
  const encoder = await createEncoder(tok, cfg.engine, cfg.workers);
  const counters = { items: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(files.reduce((s, f) => s + f.size, 0), files.length, cfg.mode === 'sft' ? 'examples' : 'docs');
  const units: UnitResult[] = [];
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
        units.push({ path: file.rel, sha256, read, ...(await sink.finish()) });
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
  return units;
}

async function prepareOutDir(out: string, overwrite: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await fs.readdir(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new MeapError('usage', `cannot use the output directory: ${(e as NodeJS.ErrnoException).code}`, { file: out });
    }
  }
  const ours = entries.filter((e) => e === MANIFEST || e === WORK_DIR || /^part-[0-9a-f]{16}-\d{5}\.arrow$/.test(e));
  const foreign = entries.filter((e) => !ours.includes(e));
  if (foreign.length > 0) {
    throw new MeapError('usage', `the output directory holds files meap did not write (${foreign.slice(0, 3).join(', ')})`, { file: out }, 'choose an empty or new directory');
  }
  if (ours.length > 0) {
    if (!overwrite) {
      throw new MeapError('usage', 'the output directory already holds meap output', { file: out }, 'pass --overwrite to replace it, or choose another --out');
    }
    await Promise.all(ours.map((e) => fs.rm(path.join(out, e), { recursive: true, force: true })));
  }
  await fs.mkdir(out, { recursive: true });
}

function common(cfg: PrepareConfig, tok: LoadedTokenizer, units: UnitResult[]) {
  const shards = units.flatMap((u) => u.shards);
  const sum = (key: 'rows' | 'tokens' | 'maskedTokens') => shards.reduce((s, x) => s + x[key], 0);
  const skippedOf = (u: UnitResult) => sortKeys(addCounts({ ...u.read.skipped }, u.skipped));
  return {
    head: {
      format: 'meap-shards' as const,
      version: 1 as const,
      seqLen: cfg.seqLen,
      seed: cfg.seed,
      tokenizer: {
        sha256: tok.sha256,
        vocabSize: tok.specials.vocabSize,
        maskTokenId: tok.specials.maskTokenId,
        bosId: tok.specials.bosId,
        eosId: tok.specials.eosId,
      },
    },
    shards,
    inputOf: (u: UnitResult) => ({ path: u.path, sha256: u.sha256, records: u.read.records }),
    skippedOf,
    totals: { rows: sum('rows'), tokens: sum('tokens'), maskedTokens: sum('maskedTokens') },
    skipped: sortKeys(units.reduce((acc, u) => addCounts(acc, skippedOf(u)), {} as Record<string, number>)),
  };
}

function pretrainManifest(cfg: PrepareConfig, tok: LoadedTokenizer, units: UnitResult[]): Manifest {
  const c = common(cfg, tok, units);
  return {
    ...c.head,
    mode: 'pretrain',
    masking: { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength },
    document: { bos: cfg.bos, eos: cfg.eos, textField: cfg.textField, excludeSets: [...cfg.excludeSets].sort() },
    inputs: units.map((u) => ({ ...c.inputOf(u), documents: u.read.items, skipped: c.skippedOf(u) })),
    shards: c.shards,
    totals: { ...c.totals, documents: units.reduce((s, u) => s + u.read.items, 0), skipped: c.skipped },
  };
}

function sftManifest(cfg: PrepareConfig, tok: LoadedTokenizer, template: CompiledTemplate, units: UnitResult[]): Manifest {
  const c = common(cfg, tok, units);
  const total = (key: string) => units.reduce((s, u) => s + (u.counts[key] ?? 0), 0);
  return {
    ...c.head,
    mode: 'sft',
    masking: { strategy: 'sft-duplicate', ratio: cfg.maskRatio, minAnswerTokens: cfg.minAnswerTokens, layout: cfg.sftLayout },
    sft: { template: template.name, templateSha256: template.sha256, pack: cfg.pack, bos: cfg.bos, eos: cfg.eos },
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
