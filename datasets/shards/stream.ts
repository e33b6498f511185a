/**
 * Shards as prepare writes them: an Arrow IPC stream of record batches of the three List<Int32>
 * columns, each batch's bytes written straight from the rows' own arrays (see recordBatchParts).
 * No apache-arrow here: unit worker threads write shards, and that library costs each of them some
 * 8 MB. The layout is fixed by the schema, so the two messages' metadata are constant bytes with
 * numbers put in, generated from apache-arrow's own writer into stream-layout.ts;
 * test/datasets/shards/stream.test.ts holds the pinned bytes equal to the generator's and the written
 * shards equal to apache-arrow's writer for any rows, and stream-reader.ts reads them back.
 */
import { SHARD_COLUMNS, type ShardColumn } from '../../schemas/shard-columns.ts';
import type { ShardFormat } from '../../schemas/manifest.ts';
import { BATCH_META_HEX, BODY_LENGTH_AT, BUFFERS_AT, END_OF_STREAM_HEX, NODES_AT, ROWS_AT, STREAM_HEADER_HEX } from './stream-layout.ts';

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
export const STREAM_HEADER: Uint8Array = hex(STREAM_HEADER_HEX);

/** What a stream ends with: the continuation marker and a zero length. */
export const END_OF_STREAM: Uint8Array = hex(END_OF_STREAM_HEX);

/**
 * A record batch message's first bytes (continuation, metadata length, the flatbuffer Message) with
 * every number zero. Its numbers sit at fixed places: the body length, the row count, then per column
 * two field nodes (rows, then values; null counts stay zero) and four buffers (validity, offsets,
 * child validity, values; each an offset into the body and a length padded to 8).
 */
const BATCH_META = hex(BATCH_META_HEX);

/** Where a record batch's body starts, from the message's first byte. */
export const BATCH_META_LENGTH = BATCH_META.length;

const pad8 = (n: number) => (n + 7) & ~7;
const ZEROS = new Uint8Array(8);

/** One column's place in a record batch's body: its offsets (rows + 1 int32s), then its values, each padded to 8. */
export interface ColumnPlace {
  offsetsAt: number;
  offsetBytes: number;
  valuesAt: number;
  valueBytes: number;
}

/** Where each column sits in the body of a batch of `rows` rows whose columns hold `values[c]` values, and the body's length. */
export function batchBody(rows: number, values: readonly number[]): { columns: ColumnPlace[]; length: number } {
  let length = 0;
  const columns = values.map((n) => {
    const offsetBytes = pad8((rows + 1) * 4);
    const place = { offsetsAt: length, offsetBytes, valuesAt: length + offsetBytes, valueBytes: pad8(n * 4) };
    length += offsetBytes + place.valueBytes;
    return place;
  });
  return { columns, length };
}

/** The metadata of that batch: the first BATCH_META_LENGTH bytes of its message, its body follows. */
export function batchMetadata(rows: number, values: readonly number[]): Uint8Array {
  const meta = BATCH_META.slice();
  const view = new DataView(meta.buffer);
  // Numbers below 2^53: a 64-bit little-endian field is its low and high 32-bit halves.
  const put64 = (at: number, n: number) => {
    view.setUint32(at, n % 2 ** 32, true);
    view.setUint32(at + 4, Math.floor(n / 2 ** 32), true);
  };
  const body = batchBody(rows, values);
  body.columns.forEach((place, c) => {
    put64(NODES_AT + 32 * c, rows);
    put64(NODES_AT + 32 * c + 16, values[c]);
    const buffers = [
      [place.offsetsAt, 0],
      [place.offsetsAt, place.offsetBytes],
      [place.valuesAt, 0],
      [place.valuesAt, place.valueBytes],
    ];
    buffers.forEach(([at, length], b) => {
      put64(BUFFERS_AT + 16 * (4 * c + b), at);
      put64(BUFFERS_AT + 16 * (4 * c + b) + 8, length);
    });
  });
  put64(BODY_LENGTH_AT, body.length);
  put64(ROWS_AT, rows);
  return meta;
}

/**
 * One record batch's message, to append to a stream that began with STREAM_HEADER, as pieces to
 * write in order: the rows' arrays themselves, never copied into one buffer.
 */
export function recordBatchParts(rows: readonly ShardRow[]): Uint8Array[] {
  // The metadata comes first but needs the value counts: its place is filled last.
  const parts: Uint8Array[] = [BATCH_META];
  const padTo8 = (bytes: number) => {
    if (bytes % 8 !== 0) parts.push(ZEROS.subarray(0, 8 - (bytes % 8)));
  };
  const values = SHARD_COLUMNS.map((col) => {
    const offsets = new Int32Array(rows.length + 1);
    for (let r = 0; r < rows.length; r++) offsets[r + 1] = offsets[r] + rows[r][col].length;
    parts.push(new Uint8Array(offsets.buffer));
    padTo8(offsets.byteLength);
    for (const row of rows) if (row[col].length > 0) parts.push(new Uint8Array(row[col].buffer, row[col].byteOffset, row[col].byteLength));
    padTo8(offsets[rows.length] * 4);
    return offsets[rows.length];
  });
  parts[0] = batchMetadata(rows.length, values);
  return parts;
}
