/**
 * Writes datasets/shards/stream-layout.ts, the bytes of a shard that do not depend on its rows, as
 * apache-arrow's own stream writer lays them out for SHARD_COLUMNS: the schema message, a record
 * batch's metadata with every number zero, the end-of-stream marker, and where a batch's numbers go.
 * Run it after changing the columns or upgrading apache-arrow: `npx tsx scripts/pin-stream-layout.ts`.
 * Covered by test/datasets/shards/stream.test.ts, which fails, printing what this writes, when the
 * pinned file differs.
 *
 * A batch's numbers are found, not assumed: two batches whose numbers are large and distinct are
 * written, each number is looked for in the metadata (it must occur exactly once), and zeroing them
 * must leave the same bytes for both. Node and buffer vectors are looked for whole, in the layout
 * datasets/shards/stream.ts writes them, so a writer that lays them out otherwise fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Field, Int32, List, makeData, RecordBatch, Schema, Struct, Table, tableToIPC } from 'apache-arrow';
import { SHARD_COLUMNS } from '../schemas/shard-columns.ts';

/** Every column non-null List<Int32> of non-null items: the one home of the shard's Arrow types. */
const SCHEMA = new Schema(SHARD_COLUMNS.map((name) => new Field(name, new List(new Field('item', new Int32(), false)), false)));

export const LAYOUT_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../datasets/shards/stream-layout.ts');

const pad8 = (n: number) => (n + 7) & ~7;

/** A batch of `rows` rows whose columns hold `values[c]` values, all in its first row. */
function batchOf(rows: number, values: readonly number[]): RecordBatch {
  const children = values.map((n) => {
    const offsets = new Int32Array(rows + 1).fill(n);
    offsets[0] = 0;
    const child = makeData({ type: new Int32(), length: n, nullCount: 0, data: new Int32Array(n) });
    return makeData({ type: SCHEMA.fields[0].type, length: rows, nullCount: 0, valueOffsets: offsets, child });
  });
  return new RecordBatch(SCHEMA, makeData({ type: new Struct(SCHEMA.fields), length: rows, nullCount: 0, children }));
}

const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

/** The one place `needle` occurs in `hay`. */
function onlyPlace(hay: Buffer, needle: Buffer, what: string): number {
  const at = hay.indexOf(needle);
  if (at < 0 || hay.indexOf(needle, at + 1) >= 0) {
    throw new Error(`apache-arrow's record batch metadata holds ${what} ${at < 0 ? 'nowhere' : 'more than once'}: datasets/shards/stream.ts's writer needs changing, not only its pinned bytes`);
  }
  return at;
}

interface Layout {
  header: Buffer;
  meta: Buffer;
  endOfStream: Buffer;
  bodyLengthAt: number;
  rowsAt: number;
  buffersAt: number;
  nodesAt: number;
}

function layoutOf(rows: number, values: readonly number[]): Layout {
  const empty = Buffer.from(tableToIPC(new Table(SCHEMA), 'stream'));
  const header = empty.subarray(0, -8);
  const endOfStream = empty.subarray(-8);
  const stream = Buffer.from(tableToIPC(new Table(SCHEMA, [batchOf(rows, values)]), 'stream'));
  const message = stream.subarray(header.length);
  const meta = Buffer.from(message.subarray(0, 8 + message.readUInt32LE(4)));
  // Per column: the list node (rows), then its child's (values); null counts zero.
  const nodes = Buffer.concat(values.flatMap((n) => [u64(rows), u64(0), u64(n), u64(0)]));
  // Per column: list validity (none), offsets, child validity (none), values; each at its offset in the body.
  let body = 0;
  const buffers = Buffer.concat(
    values.flatMap((n) => {
      const offsetBytes = pad8((rows + 1) * 4);
      const valueBytes = pad8(n * 4);
      const pairs = [body, 0, body, offsetBytes, body + offsetBytes, 0, body + offsetBytes, valueBytes].map(u64);
      body += offsetBytes + valueBytes;
      return pairs;
    }),
  );
  const nodesAt = onlyPlace(meta, nodes, 'the field nodes (rows, values) of the three columns');
  const buffersAt = onlyPlace(meta, buffers, 'the twelve buffers (validity, offsets, validity, values per column)');
  const outside = (at: number) => at < nodesAt || at >= nodesAt + nodes.length;
  const places = (n: number) => {
    const found: number[] = [];
    for (let at = meta.indexOf(u64(n)); at >= 0; at = meta.indexOf(u64(n), at + 1)) if (outside(at)) found.push(at);
    return found;
  };
  const [rowsAt, ...moreRows] = places(rows);
  const [bodyLengthAt, ...moreBody] = places(body);
  if (rowsAt === undefined || moreRows.length > 0 || bodyLengthAt === undefined || moreBody.length > 0) {
    throw new Error('apache-arrow\'s record batch metadata does not hold its row count and body length once each: datasets/shards/stream.ts\'s writer needs changing');
  }
  for (const [at, length] of [[nodesAt, nodes.length], [buffersAt, buffers.length], [rowsAt, 8], [bodyLengthAt, 8]]) meta.fill(0, at, at + length);
  if (message.length !== meta.length + body + endOfStream.length) throw new Error('apache-arrow\'s record batch body is not the three columns\' offsets and values, padded to 8');
  return { header, meta, endOfStream, bodyLengthAt, rowsAt, buffersAt, nodesAt };
}

const hexLines = (b: Buffer) => {
  const hex = b.toString('hex');
  const lines: string[] = [];
  for (let i = 0; i < hex.length; i += 96) lines.push(`  '${hex.slice(i, i + 96)}'`);
  return lines.join(' +\n');
};
const at = (n: number) => `0x${n.toString(16)}`;

/** The text of datasets/shards/stream-layout.ts, from apache-arrow's writer as installed. */
export function streamLayoutSource(): string {
  // Large, distinct numbers: none can be mistaken for a flatbuffer offset or a vector's length.
  const a = layoutOf(70_001, [100_003, 100_019, 100_043]);
  const b = layoutOf(90_001, [110_017, 0, 120_011]);
  const same = a.meta.equals(b.meta) && (['bodyLengthAt', 'rowsAt', 'buffersAt', 'nodesAt'] as const).every((k) => a[k] === b[k]);
  if (!same) throw new Error('apache-arrow\'s record batch metadata changes shape with its numbers: it cannot be pinned as one template');
  return `/**
 * The bytes of a shard stream that do not depend on its rows, as apache-arrow's own stream writer lays
 * them out for SHARD_COLUMNS, and where a record batch's numbers go (byte offsets from the message's
 * start). Generated by \`npx tsx scripts/pin-stream-layout.ts\`: do not edit; regenerate after changing
 * the columns or upgrading apache-arrow. test/datasets/shards/stream.test.ts fails, printing this
 * file as the script would write it, when the two differ.
 */

/** The schema message: what a shard starts with. */
export const STREAM_HEADER_HEX =
${hexLines(a.header)};

/** A record batch message's metadata (continuation, length, the flatbuffer Message) with every number zero. */
export const BATCH_META_HEX =
${hexLines(a.meta)};

/** What a stream ends with: the continuation marker and a zero length. */
export const END_OF_STREAM_HEX = '${a.endOfStream.toString('hex')}';

export const BODY_LENGTH_AT = ${at(a.bodyLengthAt)};
export const ROWS_AT = ${at(a.rowsAt)};
/** Twelve (offset, length) pairs of 64-bit numbers: per column validity, offsets, child validity, values. */
export const BUFFERS_AT = ${at(a.buffersAt)};
/** Six (length, null count) pairs of 64-bit numbers: per column its rows, then its values. */
export const NODES_AT = ${at(a.nodesAt)};
`;
}

if (process.argv[1] !== undefined && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  fs.writeFileSync(LAYOUT_FILE, streamLayoutSource());
  process.stdout.write(`wrote ${path.relative(process.cwd(), LAYOUT_FILE)}\n`);
}
