/**
 * Shard bytes → rows, in either container: a version 2 stream by meap's own reader
 * (stream-reader.ts), a version 1 file by apache-arrow, once its sha256 has matched its manifest;
 * verify, inspect, the trainer and the tests decode with it. prepare writes with stream.ts, and
 * encodeShard gives its bytes for whole rows at once (and version 1's file container, for tests),
 * built from flat buffers with makeData rather than per-value builders, which are far slower.
 */
import { DataType, List, RecordBatch, Struct, Table, makeData, tableFromIPC, tableToIPC, type Data, type Int32 } from 'apache-arrow';
import { IntegrityError } from '../../core/errors.ts';
import type { ShardFormat } from '../../schemas/manifest.ts';
import { SHARD_COLUMNS, type ShardColumn } from '../../schemas/shard-columns.ts';
import { END_OF_STREAM, recordBatchParts, recordBatches, SHARD_FORMAT, STREAM_HEADER, type ShardRow } from './stream.ts';
import { decodeStream, type DecodedShard } from './stream-reader.ts';

export type { DecodedShard };

/** The Arrow schema as the pinned schema message declares it (scripts/pin-stream-layout.ts is its one home). */
const SHARD_SCHEMA = tableFromIPC(Buffer.concat([STREAM_HEADER, END_OF_STREAM])).schema;
const LIST_OF_INT32 = SHARD_SCHEMA.fields[0].type as List<Int32>;

function recordBatch(rows: readonly ShardRow[]): RecordBatch {
  const children = SHARD_COLUMNS.map((col) => listColumn(rows.map((r) => r[col])));
  const struct = makeData({ type: new Struct(SHARD_SCHEMA.fields), length: rows.length, nullCount: 0, children });
  return new RecordBatch(SHARD_SCHEMA, struct);
}

/** `format` other than SHARD_FORMAT writes what version 1 directories hold, for tests of old directories. */
export function encodeShard(rows: readonly ShardRow[], format: ShardFormat = SHARD_FORMAT): Uint8Array {
  if (format === 'arrow-ipc-file') return tableToIPC(new Table(SHARD_SCHEMA, [...recordBatches(rows)].map(recordBatch)), 'file');
  return Buffer.concat([STREAM_HEADER, ...[...recordBatches(rows)].flatMap(recordBatchParts), END_OF_STREAM]);
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const FILE_MAGIC = Buffer.from('ARROW1\0\0');
const CONTINUATION = Buffer.from([0xff, 0xff, 0xff, 0xff]);

/**
 * The container, read from the first bytes: a file opens with the ARROW1 magic, a stream with the
 * continuation marker of its schema message. Null for anything else (including pre-0.15 streams,
 * which no meap ever wrote).
 */
export function ipcFormatOf(bytes: Uint8Array): ShardFormat | null {
  const head = asBuffer(bytes).subarray(0, 8);
  if (head.equals(FILE_MAGIC)) return 'arrow-ipc-file';
  if (head.subarray(0, 4).equals(CONTINUATION)) return 'arrow-ipc-stream';
  return null;
}

function listColumn(values: readonly Int32Array[]): Data<List<Int32>> {
  const offsets = new Int32Array(values.length + 1);
  for (let i = 0; i < values.length; i++) offsets[i + 1] = offsets[i] + values[i].length;
  const flat = new Int32Array(offsets[values.length]);
  for (let i = 0; i < values.length; i++) flat.set(values[i], offsets[i]);
  const child = makeData({ type: LIST_OF_INT32.children[0].type, length: flat.length, nullCount: 0, data: flat });
  return makeData({ type: LIST_OF_INT32, length: values.length, nullCount: 0, valueOffsets: offsets, child });
}

export interface DecodeOptions {
  /**
   * The caller has checked the bytes against their manifest's sha256: only then may a version 1
   * (Arrow IPC file) shard reach apache-arrow, whose reader can loop on damaged bytes.
   */
  sha256Matched?: boolean;
  /** What the IntegrityError suggests doing. */
  hint?: string;
}

/** The rows of a shard, or one IntegrityError naming `file` (and, in a stream, the first byte that is not meap's). */
export function decodeShard(bytes: Uint8Array, file: string, { sha256Matched = false, hint }: DecodeOptions = {}): DecodedShard {
  if (ipcFormatOf(bytes) !== 'arrow-ipc-file') return decodeStream(bytes, file, hint);
  if (!sha256Matched) {
    throw new IntegrityError('not a version 2 shard: an Arrow IPC file, as version 1 directories hold, is read only through its manifest, once its sha256 matches', { file, byte: 0 }, hint);
  }
  try {
    return decodeFile(bytes);
  } catch (e) {
    throw new IntegrityError(`not a meap shard: ${(e as Error).message}`, { file }, hint);
  }
}

/** A version 1 shard with apache-arrow; throws a plain Error with the reason. */
function decodeFile(bytes: Uint8Array): DecodedShard {
  const table = tableFromIPC(bytes);
  const names = table.schema.fields.map((f) => f.name);
  if (names.join(',') !== SHARD_COLUMNS.join(',')) {
    throw new Error(`columns are [${names.join(', ')}], expected [${SHARD_COLUMNS.join(', ')}]`);
  }
  const columns = {} as DecodedShard['columns'];
  for (const field of table.schema.fields) {
    if (!isListOfInt32(field.type)) {
      throw new Error(`column ${field.name} is ${field.type}, expected List<Int32>`);
    }
    const parts = table.getChild(field.name)!.data as Data<List<Int32>>[];
    columns[field.name as ShardColumn] = flatten(parts);
  }
  return { rows: table.numRows, columns };
}

// IPC readers build the generic Int_ class, so compare type ids and widths rather than classes.
function isListOfInt32(type: DataType): boolean {
  if (!DataType.isList(type)) return false;
  const item = type.children[0]?.type;
  return DataType.isInt(item) && item.bitWidth === 32 && item.isSigned;
}

function flatten(parts: Data<List<Int32>>[]): { offsets: Int32Array; values: Int32Array } {
  let rows = 0;
  let total = 0;
  for (const d of parts) {
    rows += d.length;
    total += d.valueOffsets[d.offset + d.length] - d.valueOffsets[d.offset];
  }
  const offsets = new Int32Array(rows + 1);
  const values = new Int32Array(total);
  let r = 0;
  for (const d of parts) {
    // A shard of no batches reads as one empty part without children.
    if (d.length === 0) continue;
    const base = d.valueOffsets[d.offset];
    const c = d.children[0];
    const child = (c.values as Int32Array).subarray(c.offset);
    const end = d.valueOffsets[d.offset + d.length];
    values.set(child.subarray(base, end), offsets[r]);
    for (let i = 1; i <= d.length; i++) offsets[r + i] = offsets[r] + d.valueOffsets[d.offset + i] - base;
    r += d.length;
  }
  return { offsets, values };
}
