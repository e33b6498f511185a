import * as fs from 'node:fs';
import fc from 'fast-check';
import { Field, Int32, List, RecordBatchStreamReader, Schema, Table, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { decodeShard, encodeShard } from '../../../datasets/shards/codec.ts';
import { END_OF_STREAM, recordBatchParts, STREAM_HEADER, type ShardRow } from '../../../datasets/shards/stream.ts';
import { SHARD_COLUMNS } from '../../../schemas/shard-columns.ts';
import { LAYOUT_FILE, streamLayoutSource } from '../../../scripts/pin-stream-layout.ts';

const rowOf = (input: number[], labels: number[], positions: number[]): ShardRow => ({
  input_ids: Int32Array.from(input),
  labels: Int32Array.from(labels),
  position_ids: Int32Array.from(positions),
});

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
// Columns of different lengths too: the writer must not assume they match.
const rows = fc.array(fc.tuple(fc.array(int32, { maxLength: 40 }), fc.array(int32, { maxLength: 9 }), fc.array(int32, { maxLength: 40 })), { maxLength: 30 }).map((rs) => rs.map(([a, b, c]) => rowOf(a, b, c)));

describe('shard stream writer (no apache-arrow)', () => {
  it("pins exactly the layout scripts/pin-stream-layout.ts takes from apache-arrow's writer, so a schema change is a regeneration", () => {
    const generated = streamLayoutSource();
    const pinned = fs.readFileSync(LAYOUT_FILE, 'utf8');
    expect(pinned, `${LAYOUT_FILE} is not what apache-arrow's writer gives now: run \`npx tsx scripts/pin-stream-layout.ts\`, which writes\n${generated}`).toBe(generated);
  });

  it('starts with the schema message apache-arrow writes for the three List<Int32> columns', () => {
    const schema = new Schema(SHARD_COLUMNS.map((name) => new Field(name, new List(new Field('item', new Int32(), false)), false)));
    const empty = tableToIPC(new Table(schema), 'stream');
    expect(Buffer.from(STREAM_HEADER).equals(Buffer.from(empty.subarray(0, -8)))).toBe(true);
    expect(Buffer.from(empty.subarray(-8)).equals(Buffer.from(END_OF_STREAM))).toBe(true);
  });

  it('writes, for any rows, the bytes apache-arrow writes for what it reads back, and those rows', () => {
    fc.assert(
      fc.property(rows, (rs) => {
        const bytes = encodeShard(rs);
        const batches = [...RecordBatchStreamReader.from(bytes)];
        expect(Buffer.from(tableToIPC(new Table(batches), 'stream')).equals(Buffer.from(bytes))).toBe(true);
        const decoded = decodeShard(bytes, 'any.arrow');
        expect(decoded.rows).toBe(rs.length);
        for (const col of SHARD_COLUMNS) expect(Array.from(decoded.columns[col].values)).toEqual(rs.flatMap((r) => Array.from(r[col])));
      }),
      { numRuns: 300 },
    );
  });

  it('writes rows that are views into larger buffers from their own bytes only', () => {
    const big = Int32Array.from({ length: 32 }, (_, i) => i);
    const view = { input_ids: big.subarray(3, 8), labels: big.subarray(10, 15), position_ids: big.subarray(0, 5) };
    const copy = rowOf([3, 4, 5, 6, 7], [10, 11, 12, 13, 14], [0, 1, 2, 3, 4]);
    expect(Buffer.concat(recordBatchParts([view])).equals(Buffer.concat(recordBatchParts([copy])))).toBe(true);
  });
});
