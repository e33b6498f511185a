/**
 * Shards on their way out: one input's rows collected into shards of `shardRows` rows, each encoded
 * and written durably under a name derived from the input, never from time or workers.
 */
import { sha256Hex } from '../core/hash.ts';
import type { ShardEntry } from '../schemas/manifest.ts';
import { encodeShard, type ShardRow } from '../datasets/shards/codec.ts';
import { writeOutputFile } from './workstate/dir.ts';

/** Shard names derive from the input's relative path and a counter: never from time or workers. */
export function shardName(inputRel: string, index: number): string {
  return `part-${sha256Hex(inputRel).slice(0, 16)}-${String(index).padStart(5, '0')}.arrow`;
}

/** Five digits at least: an input with more than 99,999 shards gets longer counters, still ours. */
export const isShardName = (name: string) => /^part-[0-9a-f]{16}-\d{5,}\.arrow$/.test(name);

export interface MaskedRow extends ShardRow {
  masked: number;
}

/**
 * Collects one input's rows and writes a shard every `shardRows` rows. One write may be in flight
 * while the next shard fills, so an fsync does not stall tokenization.
 */
export class ShardWriter {
  private rows: MaskedRow[] = [];
  private readonly entries: ShardEntry[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly inputRel: string,
    private readonly shardRows: number,
  ) {}

  async add(row: MaskedRow): Promise<void> {
    this.rows.push(row);
    if (this.rows.length === this.shardRows) await this.flush();
  }

  async finish(): Promise<ShardEntry[]> {
    if (this.rows.length > 0) await this.flush();
    await this.writing;
    return this.entries;
  }

  private async flush(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    const bytes = encodeShard(rows);
    const file = shardName(this.inputRel, this.entries.length);
    let tokens = 0;
    let maskedTokens = 0;
    for (const r of rows) {
      tokens += r.input_ids.length;
      maskedTokens += r.masked;
    }
    this.entries.push({ file, input: this.inputRel, rows: rows.length, tokens, maskedTokens, sha256: sha256Hex(bytes) });
    await this.writing;
    this.writing = writeOutputFile(this.dir, file, bytes);
    this.writing.catch(() => {}); // surfaced by the next flush or by finish()
  }
}
