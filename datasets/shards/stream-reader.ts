/**
 * A version 2 shard read back by meap itself, not by apache-arrow (whose reader can loop on damaged
 * header bytes): the bytes must be exactly what stream.ts writes for the rows they hold, or one
 * IntegrityError names the file and the first byte that is not. Every declared number is checked
 * against the bytes that remain before anything is read or allocated by it, each message moves the
 * reading on by its own length, and nothing is allocated until every message has been checked: time
 * linear in the file's size, memory no larger than it. Covered by test/datasets/shards/stream-reader.test.ts.
 */
import { IntegrityError } from '../../core/errors.ts';
import { SHARD_COLUMNS, type ShardColumn } from '../../schemas/shard-columns.ts';
import { BATCH_META_LENGTH, BATCH_TOKENS, batchBody, batchMetadata, END_OF_STREAM, STREAM_HEADER, type ColumnPlace } from './stream.ts';
import { NODES_AT, ROWS_AT } from './stream-layout.ts';

/** A decoded shard: each column as flat values plus row offsets, the cheap form to scan. */
export interface DecodedShard {
  rows: number;
  columns: Record<ShardColumn, { offsets: Int32Array; values: Int32Array }>;
}

/** A record batch as checked: where its body starts, and each column's value count and place in it. */
interface Batch {
  bodyAt: number;
  rows: number;
  values: number[];
  places: ColumnPlace[];
}

const INPUT_IDS = SHARD_COLUMNS.indexOf('input_ids');
/** The continuation marker and the metadata's length, the same for every batch. */
const MESSAGE_PREFIX = batchMetadata(1, SHARD_COLUMNS.map(() => 0)).subarray(0, 8);

/** `file` and `hint` are what the IntegrityError names and suggests. */
export function decodeStream(bytes: Uint8Array, file: string, hint?: string): DecodedShard {
  const fail = (byte: number, problem: string): never => {
    throw new IntegrityError(`not a meap shard: ${problem}`, { file, byte }, hint);
  };
  const end = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expectBytes = (at: number, expected: Uint8Array, what: string) => {
    for (let i = 0; i < expected.length; i++) {
      if (at + i === end) fail(end, `the file ends inside ${what} (truncated?)`);
      if (bytes[at + i] !== expected[i]) fail(at + i, `${what} is not what meap writes`);
    }
  };
  const expectZeros = (from: number, to: number, what: string) => {
    for (let i = from; i < to; i++) if (bytes[i] !== 0) fail(i, `the padding after ${what} is not zero`);
  };
  /** A 64-bit count, refused where it exceeds `most`, what the rest of the file can hold. */
  const count = (at: number, most: number, what: string): number => {
    const n = view.getBigUint64(at, true);
    if (n > BigInt(most)) fail(at, `${what} is ${n}, more than the ${most} the rest of the file can hold (truncated?)`);
    return Number(n);
  };

  expectBytes(0, STREAM_HEADER, `the schema message (${SHARD_COLUMNS.join(', ')}, each List<Int32>)`);
  const batches: Batch[] = [];
  let at = STREAM_HEADER.length;
  // Tokens in the batch before; a batch closes at BATCH_TOKENS, so only the last may hold fewer.
  let before = BATCH_TOKENS;
  for (;;) {
    if (end - at < END_OF_STREAM.length) fail(end, 'the stream ends without its end-of-stream marker (truncated?)');
    if (END_OF_STREAM.every((b, i) => bytes[at + i] === b)) {
      at += END_OF_STREAM.length;
      if (at !== end) fail(at, `${end - at === 1 ? '1 byte follows' : `${end - at} bytes follow`} the end-of-stream marker`);
      break;
    }
    expectBytes(at, MESSAGE_PREFIX, 'a record batch message\'s prefix');
    if (before < BATCH_TOKENS) fail(at, `a record batch follows one of ${before} tokens, which meap would have closed only at the shard's end (${BATCH_TOKENS} tokens)`);
    if (end - at < BATCH_META_LENGTH) fail(end, 'the file ends inside a record batch\'s metadata (truncated?)');
    // Every column's offsets hold rows + 1 int32s, and its values 4 bytes each, in the body after the metadata.
    let left = end - at - BATCH_META_LENGTH;
    const rows = count(at + ROWS_AT, Math.max(0, Math.floor(left / (4 * SHARD_COLUMNS.length)) - 1), 'the record batch\'s row count');
    if (rows === 0) fail(at + ROWS_AT, 'a record batch of no rows, which meap never writes');
    left -= SHARD_COLUMNS.length * 4 * (rows + 1);
    const values = SHARD_COLUMNS.map((col, c) => {
      const n = count(at + NODES_AT + 32 * c + 16, Math.floor(left / 4), `the value count of ${col}`);
      left -= 4 * n;
      return n;
    });
    // Checked in full, these numbers leave every other byte of the metadata as meap writes it, or not.
    expectBytes(at, batchMetadata(rows, values), `the metadata of a record batch of ${rows} rows`);
    const bodyAt = at + BATCH_META_LENGTH;
    const body = batchBody(rows, values);
    if (bodyAt + body.length > end) fail(end, 'the file ends inside a record batch\'s body (truncated?)');
    body.columns.forEach((place, c) => {
      const col = SHARD_COLUMNS[c];
      const offsetsAt = bodyAt + place.offsetsAt;
      if (view.getInt32(offsetsAt, true) !== 0) fail(offsetsAt, `${col}'s first offset is not 0`);
      for (let r = 1, last = 0; r <= rows; r++) {
        const o = view.getInt32(offsetsAt + 4 * r, true);
        if (o < last) fail(offsetsAt + 4 * r, `${col}'s offset ${r} (${o}) is below the one before (${last})`);
        last = o;
      }
      if (view.getInt32(offsetsAt + 4 * rows, true) !== values[c]) fail(offsetsAt + 4 * rows, `${col}'s last offset is not its value count, ${values[c]}`);
      expectZeros(offsetsAt + 4 * (rows + 1), offsetsAt + place.offsetBytes, `${col}'s offsets`);
      const valuesAt = bodyAt + place.valuesAt;
      expectZeros(valuesAt + 4 * values[c], valuesAt + place.valueBytes, `${col}'s values`);
    });
    const tokensAt = bodyAt + body.columns[INPUT_IDS].offsetsAt;
    const beforeLast = view.getInt32(tokensAt + 4 * (rows - 1), true);
    if (beforeLast >= BATCH_TOKENS) fail(tokensAt + 4 * (rows - 1), `the record batch goes on after ${beforeLast} tokens, past ${BATCH_TOKENS}, where meap closes a batch`);
    before = values[INPUT_IDS];
    batches.push({ bodyAt, rows, values, places: body.columns });
    at = bodyAt + body.length;
  }
  return gather(bytes, view, batches);
}

/** The checked batches' columns, each copied into one array. */
function gather(bytes: Uint8Array, view: DataView, batches: Batch[]): DecodedShard {
  const rows = batches.reduce((n, b) => n + b.rows, 0);
  const columns = {} as DecodedShard['columns'];
  SHARD_COLUMNS.forEach((col, c) => {
    const offsets = new Int32Array(rows + 1);
    const values = new Int32Array(batches.reduce((n, b) => n + b.values[c], 0));
    // Arrow's int32s are little-endian, as the platforms meap runs on: the values are copied as bytes.
    const valueBytes = new Uint8Array(values.buffer);
    let r = 0;
    for (const b of batches) {
      const offsetsAt = b.bodyAt + b.places[c].offsetsAt;
      const base = offsets[r];
      for (let i = 1; i <= b.rows; i++) offsets[r + i] = base + view.getInt32(offsetsAt + 4 * i, true);
      const valuesAt = b.bodyAt + b.places[c].valuesAt;
      valueBytes.set(bytes.subarray(valuesAt, valuesAt + 4 * b.values[c]), 4 * base);
      r += b.rows;
    }
    columns[col] = { offsets, values };
  });
  return { rows, columns };
}
