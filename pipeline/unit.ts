/**
 * One input file, the unit of work, in two halves: reading turns records into batches of document
 * texts; the output half packs, masks and writes their token ids in document order. Both halves
 * depend only on the file's bytes, the tokenizer and the config.
 */
import type { PrepareConfig } from '../schemas/config.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import type { InputFile } from '../datasets/inputs.ts';
import { readRecords } from '../datasets/records.ts';
import { toDocument } from '../datasets/slimpajama.ts';
import { InputError } from './errors.ts';
import { maskRow, type MaskSpec } from './mask.ts';
import { Packer, type PackedRow } from './pack.ts';
import type { Progress } from './progress.ts';
import { ShardWriter } from './shards.ts';
import type { LoadedTokenizer } from './tokenize.ts';

/** A batch closes at whichever comes first; big enough to keep rayon busy, small enough to bound memory. */
const BATCH_CHARS = 1 << 19;
const BATCH_DOCS = 1024;

export interface RunContext {
  progress: Progress;
  signal: AbortSignal;
}

export interface Counters {
  documents: number;
  tokens: number;
  bytesRead: number;
}

/** The consuming half of a unit: packs, masks and writes its tokenized documents in order. */
export class UnitOutput {
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
export async function readUnit(
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

export const sortKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
