import { describe, expect, it } from 'vitest';
import { tableFromIPC } from 'apache-arrow';
import { decodeShard, encodeShard } from '../../../datasets/shards/codec.ts';

const rows = [
  { input_ids: Int32Array.of(1, 99, 3), labels: Int32Array.of(1, 2, 3), position_ids: Int32Array.of(0, 1, 2) },
  { input_ids: Int32Array.of(5), labels: Int32Array.of(5), position_ids: Int32Array.of(0) },
  { input_ids: new Int32Array(0), labels: new Int32Array(0), position_ids: new Int32Array(0) },
];

describe('shard codec', () => {
  it('writes an Arrow IPC file with three List<Int32> columns that round-trips', () => {
    const bytes = encodeShard(rows);
    expect(Buffer.from(bytes.subarray(0, 6)).toString()).toBe('ARROW1');
    const table = tableFromIPC(bytes);
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      'input_ids:List<Int32>',
      'labels:List<Int32>',
      'position_ids:List<Int32>',
    ]);
    expect(Array.from(table.get(0)!.input_ids as Iterable<number>)).toEqual([1, 99, 3]);
    const decoded = decodeShard(bytes);
    expect(decoded.rows).toBe(3);
    expect(Array.from(decoded.columns.labels.offsets)).toEqual([0, 3, 4, 4]);
    expect(Array.from(decoded.columns.labels.values)).toEqual([1, 2, 3, 5]);
  });

  it('is byte-identical for identical rows', () => {
    expect(Buffer.from(encodeShard(rows)).equals(Buffer.from(encodeShard(rows.map((r) => ({ ...r })))))).toBe(true);
  });
});
