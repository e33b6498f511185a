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
import { Packer, type PackedRow } from './pack.ts';
import type { Progress } from './progress.ts';
import { MANIFEST, ShardWriter, WORK_DIR, serializeManifest, sha256File, writeFileAtomic } from './shards.ts';
import { rememberTokenizer } from './tokenizer-cache.ts';
import { createEncoder, loadTokenizer, type Encoder, type LoadedTokenizer } from './tokenize.ts';

/** A batch closes at whichever comes first; big enough to keep rayon busy, small enough to bound memory. */
const BATCH_CHARS = 1 << 19;
const BATCH_DOCS = 1024;

export interface RunContext {
  progress: Progress;
  signal: AbortSignal;
}

export async function prepare(cfg: PrepareConfig, ctx: RunContext): Promise<Manifest> {
  // A rerun with --overwrite must not read the previous run's manifest.json as an input.
  const outDir = path.resolve(cfg.out) + path.sep;
  const files = (await resolveInputs(cfg.inputs, { format: cfg.format })).files.filter((f) => !f.abs.startsWith(outDir));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const tok = await loadTokenizer(cfg.tokenizer, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  await prepareOutDir(cfg.out, cfg.overwrite);
  await rememberTokenizer(cfg.tokenizer, tok.sha256);
  const encoder = await createEncoder(tok, cfg.engine, cfg.workers);
  const counters = { documents: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(files.reduce((s, f) => s + f.size, 0), files.length);
  const inputs: InputEntry[] = [];
  const shards: ShardEntry[] = [];
  const queue = new OrderedQueue(2 * cfg.workers + 1);
  try {
    for (const file of files) {
      // The mask seed needs the file's hash before its first row, so hash in a pass of its own.
      const sha256 = await sha256File(file.abs).catch((e: NodeJS.ErrnoException) => {
        throw new InputError('unreadableFile', `cannot read: ${e.code ?? e.message}`, { file: file.rel });
      });
      const unit = new UnitOutput(cfg, tok, file, sha256, counters);
      const read = await readUnit(file, cfg, ctx, counters, (texts) => queue.push(encoder.encodeBatch(texts), (ids) => unit.add(ids)));
      const finishUnit = async () => {
        shards.push(...(await unit.finish()));
        inputs.push({ path: file.rel, sha256, ...read });
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

/**
 * Tokenizer batches in flight, consumed strictly in submission order. The queue runs across input
 * files, so the next file is read while the last batches of the previous one are still tokenizing.
 */
class OrderedQueue {
  private items: { pending: Promise<unknown>; apply: (value: never) => Promise<void>; weight: number }[] = [];
  private weight = 0;

  constructor(private readonly depth: number) {}

  async push<T>(pending: Promise<T>, apply: (value: T) => Promise<void>, weight = 1): Promise<void> {
    pending.catch(() => {}); // awaited in order by shift(); this only keeps an early rejection from counting as unhandled
    this.items.push({ pending, apply: apply as (value: never) => Promise<void>, weight });
    this.weight += weight;
    while (this.weight >= this.depth) await this.shift();
  }

  async drain(): Promise<void> {
    while (this.items.length > 0) await this.shift();
  }

  /** After a failure: let work in flight settle so nothing runs on after the error is reported. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.items.map((i) => i.pending));
    this.items = [];
  }

  private async shift(): Promise<void> {
    const item = this.items.shift()!;
    this.weight -= item.weight;
    await item.apply((await item.pending) as never);
  }
}

/** The consuming half of a unit: packs, masks and writes its tokenized documents in order. */
class UnitOutput {
  private readonly packer: Packer;
  private readonly writer: ShardWriter;
  private readonly spec: MaskSpec;
  private rowIndex = 0;

  constructor(
    private readonly cfg: PrepareConfig,
    tok: LoadedTokenizer,
    file: InputFile,
    private readonly sha256: string,
    private readonly counters: Counters,
  ) {
    this.spec = { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength, maskTokenId: tok.specials.maskTokenId };
    this.packer = new Packer(cfg.seqLen, tok.specialIds, {
      bosId: cfg.bos ? tok.specials.bosId : null,
      eosId: cfg.eos ? tok.specials.eosId : null,
    });
    this.writer = new ShardWriter(cfg.out, file.rel, cfg.shardRows);
  }

  async add(batch: Int32Array[]): Promise<void> {
    for (const ids of batch) {
      this.counters.tokens += ids.length;
      for (const row of this.packer.push(ids)) await this.emit(row);
    }
  }

  async finish(): Promise<ShardEntry[]> {
    const last = this.packer.finish();
    if (last !== null) await this.emit(last);
    return this.writer.finish();
  }

  private async emit(row: PackedRow): Promise<void> {
    const { inputIds, masked } = maskRow(row.tokens, row.eligible, this.spec, this.cfg.seed, this.sha256, this.rowIndex++);
    await this.writer.add({ input_ids: inputIds, labels: row.tokens, position_ids: row.positions, masked });
  }
}

/** The reading half of a unit: records → documents → batches handed to `submit`, with skips counted. */
async function readUnit(
  file: InputFile,
  cfg: PrepareConfig,
  ctx: RunContext,
  counters: Counters,
  submit: (texts: string[]) => Promise<void>,
): Promise<{ records: number; documents: number; skipped: Record<string, number> }> {
  const skipped: Record<string, number> = {};
  const skip = (reason: string) => {
    skipped[reason] = (skipped[reason] ?? 0) + 1;
  };
  let records = 0;
  let documents = 0;
  let texts: string[] = [];
  let chars = 0;
  const flush = async () => {
    if (texts.length === 0) return;
    const batch = texts;
    texts = [];
    chars = 0;
    await submit(batch);
    ctx.progress.update(counters);
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
      if (chars >= BATCH_CHARS || texts.length >= BATCH_DOCS) await flush();
    }
  } catch (e) {
    // A broken file (truncated .zst, corrupt Parquet) under --on-error skip keeps what was read before it.
    if (!(e instanceof InputError) || cfg.onError === 'fail') throw e;
    skip(e.reason);
  }
  await flush();
  return { records, documents, skipped: sortKeys(skipped) };
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
