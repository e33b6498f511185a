/**
 * Shards as prepare writes them: an Arrow IPC stream of record batches of the three List<Int32>
 * columns, each batch's bytes written straight from the rows' own arrays (see recordBatchParts).
 * No apache-arrow here: unit worker threads write shards, and that library costs each of them some
 * 8 MB. The layout is fixed by the schema, so the two messages' metadata are constant bytes with
 * numbers put in; test/datasets/shards/stream.test.ts holds them equal to apache-arrow's own writer
 * for any rows, and codec.ts reads them back with apache-arrow.
 */
import { SHARD_COLUMNS, type ShardColumn } from '../../schemas/shard-columns.ts';
import type { ShardFormat } from '../../schemas/manifest.ts';

export type ShardRow = Record<ShardColumn, Int32Array>;

/** What prepare writes: Hugging Face `datasets` memory-maps shards with `pa.ipc.open_stream`, which refuses the file format. */
export const SHARD_FORMAT: ShardFormat = 'arrow-ipc-stream';

/**
 * A record batch closes once it holds this many tokens (or its shard ends), so a shard of any size is
 * written, and held, one bounded batch at a time. Part of the format: it decides the bytes.
 */
export const BATCH_TOKENS = 1 << 18;

/** Rows cut into record batches by BATCH_TOKENS, as the shard writer cuts them. */
export function* recordBatches(rows: readonly ShardRow[]): Generator<ShardRow[]> {
  let batch: ShardRow[] = [];
  let tokens = 0;
  for (const r of rows) {
    batch.push(r);
    tokens += r.input_ids.length;
    if (tokens >= BATCH_TOKENS) {
      yield batch;
      batch = [];
      tokens = 0;
    }
  }
  if (batch.length > 0) yield batch;
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

/** The stream's schema message, as apache-arrow writes it for SHARD_COLUMNS: what a shard starts with. */
export const STREAM_HEADER: Uint8Array = hex(
  'ffffffff800100001000000000000a0010000e00070008000a0000000000000110000000000004000800080000000400' +
  '080000000400000003000000cc0000006c0000000400000014ffffff10000000200000000000000c500000000c000000' +
  '706f736974696f6e5f69647300000000010000000400000044ffffff1000000018000000000000021400000004000000' +
  '6974656d000000000000000034ffffff00000001200000002cffffff78ffffff10000000180000000000000c48000000' +
  '060000006c6162656c7300000100000004000000a0ffffff10000000180000000000000214000000040000006974656d' +
  '000000000000000090ffffff000000012000000088ffffffd4ffffff100000001c0000000000000c6800000009000000' +
  '696e7075745f696473000000010000001400000010001400040000000f00100000000800100000001000000018000000' +
  '000000021c000000040000006974656d000000000000000008000c000800070008000000000000012000000004000400' +
  '0400000000000000',
);

/** What a stream ends with: the continuation marker and a zero length. */
export const END_OF_STREAM: Uint8Array = hex('ffffffff00000000');

/**
 * A record batch message's first bytes (continuation, metadata length, the flatbuffer Message) with
 * every number zero. Its numbers sit at fixed places: the body length, the row count, then per column
 * two field nodes (rows, then values; null counts stay zero) and four buffers (validity, offsets,
 * child validity, values; each an offset into the body and a length padded to 8).
 */
const BATCH_META = hex(
  'ffffffff7801000014000000000000000c00160014000f00100004000c00000000000000000000000000000310000000' +
  '04000a0018000c00080004000a00000014000000d80000000000000000000000000000000c0000000000000000000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000' +
  '000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000',
);
const BODY_LENGTH_AT = 0x20;
const ROWS_AT = 0x48;
const BUFFERS_AT = 0x58;
const NODES_AT = 0x120;

const pad8 = (n: number) => (n + 7) & ~7;
const ZEROS = new Uint8Array(8);

/**
 * One record batch's message, to append to a stream that began with STREAM_HEADER, as pieces to
 * write in order: the rows' arrays themselves, never copied into one buffer.
 */
export function recordBatchParts(rows: readonly ShardRow[]): Uint8Array[] {
  const meta = BATCH_META.slice();
  const view = new DataView(meta.buffer);
  // Numbers below 2^53: a 64-bit little-endian field is its low and high 32-bit halves.
  const put64 = (at: number, n: number) => {
    view.setUint32(at, n % 2 ** 32, true);
    view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
  };
  const parts: Uint8Array[] = [meta];
  const padTo8 = (bytes: number) => {
    if (bytes % 8 !== 0) parts.push(ZEROS.subarray(0, 8 - (bytes % 8)));
  };
  let body = 0;
  SHARD_COLUMNS.forEach((col, c) => {
    const offsets = new Int32Array(rows.length + 1);
    for (let r = 0; r < rows.length; r++) offsets[r + 1] = offsets[r] + rows[r][col].length;
    const values = offsets[rows.length];
    const offsetBytes = pad8(offsets.byteLength);
    const valueBytes = pad8(values * 4);
    put64(NODES_AT + 32 * c, rows.length);
    put64(NODES_AT + 32 * c + 16, values);
    const buffers = [
      [body, 0],
      [body, offsetBytes],
      [body + offsetBytes, 0],
      [body + offsetBytes, valueBytes],
    ];
    buffers.forEach(([at, length], b) => {
      put64(BUFFERS_AT + 16 * (4 * c + b), at);
      put64(BUFFERS_AT + 16 * (4 * c + b) + 8, length);
    });
    parts.push(new Uint8Array(offsets.buffer));
    padTo8(offsets.byteLength);
    for (const row of rows) if (row[col].length > 0) parts.push(new Uint8Array(row[col].buffer, row[col].byteOffset, row[col].byteLength));
    padTo8(values * 4);
    body += offsetBytes + valueBytes;
  });
  put64(BODY_LENGTH_AT, body);
  put64(ROWS_AT, rows.length);
  return parts;
}
