import { describe, expect, it } from 'vitest';
import { RecordBatchStreamReader, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { IntegrityError } from '../../../core/errors.ts';
import { decodeShard, encodeShard, ipcFormatOf } from '../../../datasets/shards/codec.ts';
import { BATCH_TOKENS, recordBatches, SHARD_FORMAT } from '../../../datasets/shards/stream.ts';

const rows = [
  { input_ids: Int32Array.of(1, 99, 3), labels: Int32Array.of(1, 2, 3), position_ids: Int32Array.of(0, 1, 2) },
  { input_ids: Int32Array.of(5), labels: Int32Array.of(5), position_ids: Int32Array.of(0) },
  { input_ids: new Int32Array(0), labels: new Int32Array(0), position_ids: new Int32Array(0) },
];

describe('shard codec', () => {
  it('writes an Arrow IPC stream, one record batch of three List<Int32> columns, that apache-arrow\'s stream reader reads', () => {
    const bytes = encodeShard(rows);
    expect(SHARD_FORMAT).toBe('arrow-ipc-stream');
    expect(Buffer.from(bytes.subarray(0, 4)).toString('hex')).toBe('ffffffff');
    // The end-of-stream marker: continuation, then a zero length.
    expect(Buffer.from(bytes.subarray(-8)).toString('hex')).toBe('ffffffff00000000');
    const batches = [...RecordBatchStreamReader.from(bytes)];
    expect(batches).toHaveLength(1);
    expect(batches[0].schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(['input_ids:List<Int32>', 'labels:List<Int32>', 'position_ids:List<Int32>']);
    expect(Array.from(batches[0].get(0)!.input_ids as Iterable<number>)).toEqual([1, 99, 3]);
    const decoded = decodeShard(bytes, 'rows.arrow');
    expect(decoded.rows).toBe(3);
    expect(Array.from(decoded.columns.labels.offsets)).toEqual([0, 3, 4, 4]);
    expect(Array.from(decoded.columns.labels.values)).toEqual([1, 2, 3, 5]);
  });

  it('cuts rows into record batches of BATCH_TOKENS tokens, the same bytes as apache-arrow\'s own stream writer', () => {
    const n = BATCH_TOKENS / 2 + 1;
    const long = Array.from({ length: 5 }, (_, r) => {
      const ids = Int32Array.from({ length: n }, (_, i) => r + i);
      return { input_ids: ids, labels: ids, position_ids: ids };
    });
    expect([...recordBatches(long)].map((b) => b.length)).toEqual([2, 2, 1]);
    const bytes = encodeShard(long);
    const batches = [...RecordBatchStreamReader.from(bytes)];
    expect(batches.map((b) => b.numRows)).toEqual([2, 2, 1]);
    expect(Buffer.from(tableToIPC(new Table(batches), 'stream')).equals(Buffer.from(bytes))).toBe(true);
    expect(decodeShard(bytes, 'long.arrow').columns.input_ids.values.length).toBe(5 * n);
  });

  it('still writes and reads the file format of version 1 directories, to the same rows, once their sha256 has matched', () => {
    const file = encodeShard(rows, 'arrow-ipc-file');
    expect(Buffer.from(file.subarray(0, 6)).toString()).toBe('ARROW1');
    expect(tableFromIPC(file).numRows).toBe(3);
    expect(decodeShard(file, 'v1.arrow', { sha256Matched: true })).toEqual(decodeShard(encodeShard(rows), 'v2.arrow'));
    // apache-arrow can loop on damaged bytes: unproven ones never reach it.
    const e = (() => {
      try {
        decodeShard(file, 'v1.arrow', { hint: 'read it through its directory' });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(IntegrityError);
    expect((e as IntegrityError).message).toBe('v1.arrow (byte 0): not a version 2 shard: an Arrow IPC file, as version 1 directories hold, is read only through its manifest, once its sha256 matches (read it through its directory)');
  });

  it('tells the two containers apart by their first bytes', () => {
    expect(ipcFormatOf(encodeShard(rows))).toBe('arrow-ipc-stream');
    expect(ipcFormatOf(encodeShard(rows, 'arrow-ipc-file'))).toBe('arrow-ipc-file');
    for (const other of [new Uint8Array(0), Buffer.from('ARROW1'), Buffer.from('{"rows": 3}'), Buffer.from('PAR1....')]) expect(ipcFormatOf(other)).toBeNull();
    // A view into a larger buffer is read from its own start.
    const padded = Buffer.concat([Buffer.from('xxxx'), encodeShard(rows)]);
    expect(ipcFormatOf(padded.subarray(4))).toBe('arrow-ipc-stream');
  });

  it('refuses a stream cut anywhere, even at a message boundary, where Arrow readers see a shorter stream', () => {
    const bytes = encodeShard(rows);
    for (let n = 0; n < bytes.length; n++) expect(() => decodeShard(bytes.subarray(0, n), 'cut.arrow'), `cut at ${n}`).toThrow(IntegrityError);
    expect(() => decodeShard(bytes.subarray(0, bytes.length - 8), 'cut.arrow')).toThrow(`cut.arrow (byte ${bytes.length - 8}): not a meap shard: the stream ends without its end-of-stream marker (truncated?)`);
  });

  it('is byte-identical for identical rows', () => {
    expect(Buffer.from(encodeShard(rows)).equals(Buffer.from(encodeShard(rows.map((r) => ({ ...r })))))).toBe(true);
  });
});
