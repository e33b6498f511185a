/**
 * One input file, the unit of work, in two halves. Reading turns records into items (documents,
 * or SFT examples) and batches their texts for the tokenizer; a mode's sink packs, masks and
 * writes the items' token ids in input order. Both halves depend only on the file's bytes, the
 * tokenizer and the config.
 *
 * Covered through the CLI: test/e2e/hostile-cli.test.ts (a bad record or file fails the run or,
 * under --on-error skip, is counted by reason and the good records kept), test/e2e/prepare.test.ts
 * (--limit, skip counts), test/e2e/no-silent-inputs.test.ts (a file with no good record, the sets
 * seen under --exclude-set) and test/e2e/golden-rows.test.ts (the rows).
 */
import { InputError, MeapError, type Location } from '../core/errors.ts';
import { sha256File } from '../core/hash.ts';
import { readRecords } from '../datasets/read-records.ts';
import type { InputFile } from '../datasets/types.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import type { UnitResult } from '../schemas/workstate.ts';
import type { OrderedQueue } from './ordered-queue.ts';
import type { Encoder } from './tokenize/encoder.ts';

/** Running totals of a `prepare`, for its progress display. */
export interface Counters {
  /** Documents or examples, as `start` names them. */
  items: number;
  tokens: number;
  bytesRead: number;
}

/** What a run reports as it goes; the CLI draws it (a bar on a TTY, log lines otherwise). */
export interface Progress {
  start(totalBytes: number, files: number, noun: string): void;
  fileDone(): void;
  update(c: Counters): void;
  stop(): void;
}

/** Bad records by the user's own limit (--max-doc-chars), not by the file: never evidence of a wrong file. */
const LIMITS = new Set(['tooLong']);

/** A batch closes at whichever comes first; big enough to keep rayon busy, small enough to bound memory. */
const BATCH_CHARS = 1 << 19;
const BATCH_TEXTS = 1024;

export interface RunContext {
  progress: Progress;
  signal: AbortSignal;
}

export interface Tokenizable<Item> {
  item: Item;
  /** Plain texts to tokenize for this item; the sink gets their ids in the same order. */
  texts: string[];
}

/** What a record becomes: items, plus skips that are never errors (empty text, excluded set); or a bad record. */
export type Mapped<Item> = { kind: 'items'; items: Tokenizable<Item>[]; counted?: string[] } | { kind: 'bad'; error: InputError };

export interface Mode<Item> {
  map(value: unknown, where: Location): Mapped<Item>;
  /**
   * The record's set, where the mode filters records by set: each unit counts the sets it saw, so
   * that the finished run can name a filter that matched nothing.
   */
  setOf?(value: unknown): string | undefined;
  /** A sink for one input file; `sha256` seeds its masks. */
  sink(file: InputFile, sha256: string, counters: Counters): Sink<Item>;
}

export interface Sink<Item> {
  add(items: Item[], ids: Int32Array[][]): Promise<void>;
  /** Shards written, and the unit's counts by name (skips by reason go under `skipped`). */
  finish(): Promise<{ shards: ShardEntry[]; counts: Record<string, number>; skipped: Record<string, number> }>;
}

export interface ReadStats {
  records: number;
  items: number;
  skipped: Record<string, number>;
  /** Records by set, where the mode has sets (see Mode.setOf). */
  sets?: Record<string, number>;
}

/** The reading half: records → items → batches handed to `submit`, with skips counted by reason. */
export async function readUnit<Item>(
  file: InputFile,
  cfg: PrepareConfig,
  ctx: RunContext,
  counters: Counters,
  mode: Mode<Item>,
  submit: (batch: Tokenizable<Item>[]) => Promise<void>,
): Promise<ReadStats> {
  const skipped: Record<string, number> = {};
  const skip = (reason: string) => {
    skipped[reason] = (skipped[reason] ?? 0) + 1;
  };
  let records = 0;
  let items = 0;
  let failed = 0;
  // A Map: set names are data, and "__proto__" must count like any other.
  const sets = mode.setOf === undefined ? undefined : new Map<string, number>();
  let batch: Tokenizable<Item>[] = [];
  let chars = 0;
  let texts = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const full = batch;
    batch = [];
    chars = 0;
    texts = 0;
    await submit(full);
    ctx.progress.update(counters);
  };

  try {
    // The line cap (applied before JSON decoding) must admit the longest allowed document with every
    // character escaped as \uXXXX; below 64 MiB it stays at 64 MiB.
    const maxLineBytes = Math.max(64 << 20, cfg.maxDocChars * 6 + (1 << 20));
    for await (const rec of readRecords(file, { limit: cfg.limit, maxLineBytes, onBytes: (n) => (counters.bytesRead += n) })) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      records++;
      if (sets !== undefined && rec.kind === 'record') {
        const set = mode.setOf!(rec.value);
        if (set !== undefined) sets.set(set, (sets.get(set) ?? 0) + 1);
      }
      const mapped: Mapped<Item> = rec.kind === 'error' ? { kind: 'bad', error: rec.error } : mode.map(rec.value, rec.where);
      if (mapped.kind === 'bad') {
        if (cfg.onError === 'fail') throw mapped.error;
        if (!LIMITS.has(mapped.error.reason)) failed++;
        skip(mapped.error.reason);
        continue;
      }
      mapped.counted?.forEach(skip);
      for (const t of mapped.items) {
        items++;
        counters.items++;
        batch.push(t);
        texts += t.texts.length;
        for (const s of t.texts) chars += s.length;
      }
      if (chars >= BATCH_CHARS || texts >= BATCH_TEXTS) await flush();
    }
  } catch (e) {
    // A broken file (truncated .zst, corrupt Parquet) under --on-error skip keeps what was read before it.
    if (!(e instanceof InputError) || cfg.onError === 'fail') throw e;
    skip(e.reason);
  }
  if (records > 0 && failed === records) throw everyRecordFailed(file, cfg, records, skipped);
  await flush();
  return { records, items, skipped, ...(sets === undefined ? {} : { sets: Object.fromEntries(sets) }) };
}

/**
 * --on-error skip is for the few bad records of a large crawl. A file with no good record at all is
 * the wrong file, format or --text-field, not bad luck: skipping all of it would hide that.
 */
function everyRecordFailed(file: InputFile, cfg: PrepareConfig, records: number, skipped: Record<string, number>): MeapError {
  const counts = Object.entries(skipped)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return new MeapError(
    'input',
    `every record failed (${records} ${records === 1 ? 'record' : 'records'}: ${counts})`,
    { file: file.rel },
    `check the file's format${cfg.mode === 'pretrain' ? ' and --text-field' : ''}; --on-error fail names the first bad record and why`,
  );
}

/**
 * One whole unit through `queue`: its texts tokenized as they are read, their ids applied to the
 * mode's sink in order, and `done` called with the unit's result after its last batch. Returns once
 * the file is read; the queue holds what is still in flight, so the next file can be read meanwhile.
 */
export async function queueUnit<Item>(
  file: InputFile,
  cfg: PrepareConfig,
  mode: Mode<Item>,
  encoder: Encoder,
  queue: OrderedQueue,
  ctx: RunContext,
  counters: Counters,
  done: (unit: UnitResult) => Promise<void>,
): Promise<void> {
  // The mask seed needs the file's hash before its first row, so hash in a pass of its own.
  const sha256 = await sha256File(file.abs).catch((e: NodeJS.ErrnoException) => {
    throw new InputError('unreadableFile', `cannot read: ${e.code ?? e.message}`, { file: file.rel });
  });
  const sink = mode.sink(file, sha256, counters);
  const submit = (batch: Tokenizable<Item>[]) => {
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
  await queue.push(Promise.resolve(), async () => done({ path: file.rel, sha256, read, ...(await sink.finish()) }), 0);
}
