/**
 * `meap prepare`: input files are the units of work, processed in their stable order. Inside a unit,
 * documents are tokenized in batches that run in parallel with reading, and re-join in document order,
 * so the output is a pure function of (file bytes, tokenizer, config).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PrepareConfig } from '../schemas/config.ts';
import type { InputEntry, Manifest, ShardEntry } from '../schemas/manifest.ts';
import { resolveInputs, type InputFile } from '../datasets/inputs.ts';
import { readRecords } from '../datasets/records.ts';
import { toDocument } from '../datasets/slimpajama.ts';
import { InputError, MeapError } from './errors.ts';
import { maskRow, type MaskSpec } from './mask.ts';
import { Packer } from './pack.ts';
import type { Progress } from './progress.ts';
import { MANIFEST, ShardWriter, WORK_DIR, serializeManifest, sha256File, writeFileAtomic } from './shards.ts';
import { rememberTokenizer } from './tokenizer-cache.ts';
import { createEncoder, loadTokenizer, type Encoder, type LoadedTokenizer } from './tokenize.ts';

/** A batch closes at whichever comes first; big enough to keep rayon busy, small enough to bound memory. */
const BATCH_CHARS = 1 << 20;
const BATCH_DOCS = 1024;

export interface RunContext {
  progress: Progress;
  signal: AbortSignal;
}

export async function prepare(cfg: PrepareConfig, ctx: RunContext): Promise<Manifest> {
  const { files } = await resolveInputs(cfg.inputs, { format: cfg.format });
  const tok = await loadTokenizer(cfg.tokenizer, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  await prepareOutDir(cfg.out, cfg.overwrite);
  await rememberTokenizer(cfg.tokenizer, tok.sha256);
  const encoder = await createEncoder(tok, cfg.engine, cfg.workers);
  const counters = { documents: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(files.reduce((s, f) => s + f.size, 0), files.length);
  const inputs: InputEntry[] = [];
  const shards: ShardEntry[] = [];
  try {
    for (const file of files) {
      const unit = await processUnit(file, cfg, tok, encoder, ctx, counters);
      inputs.push(unit.input);
      shards.push(...unit.shards);
      ctx.progress.fileDone(file.rel);
    }
  } finally {
    ctx.progress.stop();
    await encoder.close();
  }
  const manifest = buildManifest(cfg, tok, inputs, shards);
  await writeFileAtomic(cfg.out, MANIFEST, serializeManifest(manifest));
  await fs.rm(path.join(cfg.out, WORK_DIR), { recursive: true, force: true });
  return manifest;
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

interface Counters {
  documents: number;
  tokens: number;
  bytesRead: number;
}

async function processUnit(
  file: InputFile,
  cfg: PrepareConfig,
  tok: LoadedTokenizer,
  encoder: Encoder,
  ctx: RunContext,
  counters: Counters,
): Promise<{ input: InputEntry; shards: ShardEntry[] }> {
  // The mask seed needs the file's hash before the first row, so hash in a pass of its own.
  const sha256 = await sha256File(file.abs).catch((e: NodeJS.ErrnoException) => {
    throw new InputError('unreadableFile', `cannot read: ${e.code ?? e.message}`, { file: file.rel });
  });
  const spec: MaskSpec = { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength, maskTokenId: tok.specials.maskTokenId };
  const packer = new Packer(cfg.seqLen, tok.specialIds, {
    bosId: cfg.bos ? tok.specials.bosId : null,
    eosId: cfg.eos ? tok.specials.eosId : null,
  });
  const writer = new ShardWriter(cfg.out, file.rel, cfg.shardRows);
  const skipped: Record<string, number> = {};
  const skip = (reason: string) => {
    skipped[reason] = (skipped[reason] ?? 0) + 1;
  };
  let records = 0;
  let documents = 0;
  let rowIndex = 0;

  const emit = async (row: ReturnType<Packer['finish']>) => {
    if (row === null) return;
    const { inputIds, masked } = maskRow(row.tokens, row.eligible, spec, cfg.seed, sha256, rowIndex++);
    await writer.add({ input_ids: inputIds, labels: row.tokens, position_ids: row.positions, masked });
  };
  const consume = async (batch: Int32Array[]) => {
    for (const ids of batch) {
      counters.tokens += ids.length;
      for (const row of packer.push(ids)) await emit(row);
    }
  };

  const inflight: Promise<Int32Array[]>[] = [];
  const depth = Math.max(2, cfg.workers + 1);
  let texts: string[] = [];
  let chars = 0;
  const submit = async () => {
    if (texts.length === 0) return;
    const p = encoder.encodeBatch(texts);
    p.catch(() => {}); // awaited below in order; this only stops an early rejection from being "unhandled"
    inflight.push(p);
    texts = [];
    chars = 0;
    while (inflight.length >= depth) await consume(await inflight.shift()!);
  };

  const excludeSets = new Set(cfg.excludeSets);
  try {
    for await (const item of readRecords(file, { limit: cfg.limit, onBytes: (n) => (counters.bytesRead += n) })) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      records++;
      if (item.kind === 'error') {
        if (cfg.onError === 'fail') throw item.error;
        skip(item.error.reason);
        continue;
      }
      const doc = toDocument(item.value, item.where, { textField: cfg.textField, excludeSets });
      if (doc.kind === 'skip') {
        const reason = doc.error.reason;
        if (cfg.onError === 'fail' && reason !== 'emptyText' && reason !== 'excludedSet') throw doc.error;
        skip(reason);
        continue;
      }
      documents++;
      counters.documents++;
      texts.push(doc.text);
      chars += doc.text.length;
      if (chars >= BATCH_CHARS || texts.length >= BATCH_DOCS) {
        await submit();
        ctx.progress.update(counters);
      }
    }
  } catch (e) {
    // A broken file (truncated .zst, corrupt Parquet) under --on-error skip keeps what was read before it.
    if (!(e instanceof InputError) || cfg.onError === 'fail') {
      await Promise.allSettled(inflight);
      throw e;
    }
    skip(e.reason);
  }
  await submit();
  while (inflight.length > 0) await consume(await inflight.shift()!);
  await emit(packer.finish());
  ctx.progress.update(counters);
  const shards = await writer.finish();
  return { input: { path: file.rel, sha256, records, documents, skipped: sortKeys(skipped) }, shards };
}

function buildManifest(cfg: PrepareConfig, tok: LoadedTokenizer, inputs: InputEntry[], shards: ShardEntry[]): Manifest {
  const skipped: Record<string, number> = {};
  for (const input of inputs) {
    for (const [reason, n] of Object.entries(input.skipped)) skipped[reason] = (skipped[reason] ?? 0) + n;
  }
  const sum = (key: 'rows' | 'tokens' | 'maskedTokens') => shards.reduce((s, x) => s + x[key], 0);
  return {
    format: 'meap-shards',
    version: 1,
    mode: 'pretrain',
    seqLen: cfg.seqLen,
    seed: cfg.seed,
    masking: { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength },
    tokenizer: {
      sha256: tok.sha256,
      vocabSize: tok.specials.vocabSize,
      maskTokenId: tok.specials.maskTokenId,
      bosId: tok.specials.bosId,
      eosId: tok.specials.eosId,
    },
    document: { bos: cfg.bos, eos: cfg.eos, textField: cfg.textField, excludeSets: [...cfg.excludeSets].sort() },
    inputs,
    shards,
    totals: {
      rows: sum('rows'),
      tokens: sum('tokens'),
      maskedTokens: sum('maskedTokens'),
      documents: inputs.reduce((s, x) => s + x.documents, 0),
      skipped: sortKeys(skipped),
    },
  };
}

const sortKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
