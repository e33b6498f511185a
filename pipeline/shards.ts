/**
 * Shards on their way out: one input's rows collected into shards of `shardRows` rows, each streamed
 * durably under a name derived from the input, never from time or workers.
 */
import { createHash, type Hash } from 'node:crypto';
import type { AtomicFile } from '../core/durable.ts';
import { sha256Hex } from '../core/hash.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import { BATCH_TOKENS, END_OF_STREAM, recordBatchParts, STREAM_HEADER, type ShardRow } from '../datasets/shards/stream.ts';
import { createOutputFile } from './workstate/dir.ts';

/** Shard names derive from the input's relative path and a counter: never from time or workers. */
export function shardName(inputRel: string, index: number): string {
  return `part-${sha256Hex(inputRel).slice(0, 16)}-${String(index).padStart(5, '0')}.arrow`;
}

/** Five digits at least: an input with more than 99,999 shards gets longer counters, still ours. */
export const isShardName = (name: string) => /^part-[0-9a-f]{16}-\d{5,}\.arrow$/.test(name);

export interface MaskedRow extends ShardRow {
  masked: number;
}

interface OpenShard {
  file: string;
  /** Opened with the shard's first batch, by the writing chain. */
  out: AtomicFile | null;
  hash: Hash;
  rows: number;
  tokens: number;
  maskedTokens: number;
}

/**
 * Writes one input's rows as shards of `shardRows` rows, each streamed to disk one record batch at a
 * time (see BATCH_TOKENS), so what is held is a batch, not a shard. One write may be in flight while
 * the next batch fills, so an fsync does not stall tokenization.
 */
export class ShardWriter {
  private batch: MaskedRow[] = [];
  private batchTokens = 0;
  private shard: OpenShard | null = null;
  private shardsStarted = 0;
  private readonly entries: ShardEntry[] = [];
  private io: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly inputRel: string,
    private readonly shardRows: number,
  ) {}

  async add(row: MaskedRow): Promise<void> {
    const shard = (this.shard ??= this.open());
    this.batch.push(row);
    this.batchTokens += row.input_ids.length;
    shard.rows++;
    shard.tokens += row.input_ids.length;
    shard.maskedTokens += row.masked;
    if (shard.rows === this.shardRows) await this.flush(true);
    else if (this.batchTokens >= BATCH_TOKENS) await this.flush(false);
  }

  async finish(): Promise<ShardEntry[]> {
    if (this.shard !== null) await this.flush(true);
    await this.io;
    return this.entries;
  }

  private open(): OpenShard {
    return { file: shardName(this.inputRel, this.shardsStarted++), out: null, hash: createHash('sha256'), rows: 0, tokens: 0, maskedTokens: 0 };
  }

  private async flush(close: boolean): Promise<void> {
    const shard = this.shard!;
    // A shard whose last batch closed on BATCH_TOKENS just before its end gets no empty batch.
    const message = this.batch.length > 0 ? recordBatchParts(this.batch) : null;
    this.batch = [];
    this.batchTokens = 0;
    if (close) this.shard = null;
    await this.io;
    this.io = this.write(shard, message, close);
    this.io.catch(() => {}); // surfaced by the next flush or by finish()
  }

  private async write(shard: OpenShard, message: Uint8Array[] | null, close: boolean): Promise<void> {
    const parts = [...(shard.out === null ? [STREAM_HEADER] : []), ...(message ?? []), ...(close ? [END_OF_STREAM] : [])];
    shard.out ??= await createOutputFile(this.dir, shard.file);
    for (const p of parts) shard.hash.update(p);
    await shard.out.append(parts);
    if (!close) return;
    await shard.out.commit();
    const { file, rows, tokens, maskedTokens } = shard;
    this.entries.push({ file, input: this.inputRel, rows, tokens, maskedTokens, sha256: shard.hash.digest('hex') });
  }
}
