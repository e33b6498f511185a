import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../core/hash.ts';
import { RecordBatchStreamReader } from 'apache-arrow';
import { decodeShard, encodeShard } from '../../datasets/shards/codec.ts';
import { BATCH_TOKENS } from '../../datasets/shards/stream.ts';
import { isShardName, ShardWriter, shardName, type MaskedRow } from '../../pipeline/shards.ts';
import { tempDir } from '../helpers/cli.ts';

/** Row r: r+1 tokens, the first `r % 3` of them counted as masked. */
const row = (r: number): MaskedRow => {
  const ids = Int32Array.from({ length: r + 1 }, (_, i) => 100 * r + i);
  return { input_ids: ids, labels: ids.map((x) => -x), position_ids: Int32Array.from({ length: r + 1 }, (_, i) => i), masked: r % 3 };
};

async function write(dir: string, rel: string, rows: number, shardRows: number) {
  const w = new ShardWriter(dir, rel, shardRows);
  for (let r = 0; r < rows; r++) await w.add(row(r));
  return w.finish();
}

describe('shardName', () => {
  it('derives from the input path and a counter only', () => {
    expect(shardName('data/a.jsonl', 3)).toBe(`part-${sha256Hex('data/a.jsonl').slice(0, 16)}-00003.arrow`);
    expect(shardName('data/a.jsonl', 3)).toBe(shardName('data/a.jsonl', 3));
    expect(shardName('data/b.jsonl', 3)).not.toBe(shardName('data/a.jsonl', 3));
  });

  it('is what isShardName recognises, and nothing else is', () => {
    for (const i of [0, 1, 99_999, 100_000, 1_234_567]) expect(isShardName(shardName('a.jsonl', i))).toBe(true);
    for (const name of ['manifest.json', '.meap', 'part-0123456789abcdef-00000.arrow.partial', 'part-0123456789ABCDEF-00000.arrow', 'part-0123456789abcdef-0000.arrow', 'x-part-0123456789abcdef-00000.arrow', 'notes.txt']) {
      expect(isShardName(name), name).toBe(false);
    }
  });
});

describe('ShardWriter', () => {
  it('writes ceil(rows / shardRows) shards, each entry matching its file', async () => {
    const dir = tempDir();
    const entries = await write(dir, 'sub/a.jsonl', 7, 3);
    expect(entries.map((e) => e.file)).toEqual([0, 1, 2].map((i) => shardName('sub/a.jsonl', i)));
    expect(entries.map((e) => e.rows)).toEqual([3, 3, 1]);
    const rowsOf = [[0, 1, 2], [3, 4, 5], [6]];
    entries.forEach((e, k) => {
      expect(e.input).toBe('sub/a.jsonl');
      expect(e.tokens).toBe(rowsOf[k].reduce((s, r) => s + r + 1, 0));
      expect(e.maskedTokens).toBe(rowsOf[k].reduce((s, r) => s + (r % 3), 0));
      const bytes = fs.readFileSync(path.join(dir, e.file));
      expect(e.sha256).toBe(sha256Hex(bytes));
      const shard = decodeShard(bytes, e.file);
      expect(shard.rows).toBe(e.rows);
      const expected = rowsOf[k].map(row);
      expect(Array.from(shard.columns.input_ids.values)).toEqual(expected.flatMap((x) => Array.from(x.input_ids)));
      expect(Array.from(shard.columns.labels.values)).toEqual(expected.flatMap((x) => Array.from(x.labels)));
      expect(Array.from(shard.columns.position_ids.values)).toEqual(expected.flatMap((x) => Array.from(x.position_ids)));
    });
    // Shards are written through .meap/tmp and renamed into place: nothing else lands in the directory.
    expect(fs.readdirSync(dir).filter((f) => f !== '.meap').sort()).toEqual(entries.map((e) => e.file).sort());
    expect(fs.readdirSync(path.join(dir, '.meap/tmp'))).toEqual([]);
  });

  it('ends a full last shard without an empty one, and writes nothing for no rows', async () => {
    const dir = tempDir();
    expect((await write(dir, 'a.jsonl', 6, 3)).map((e) => e.rows)).toEqual([3, 3]);
    expect(await write(dir, 'b.jsonl', 0, 3)).toEqual([]);
    expect(fs.readdirSync(dir).filter(isShardName)).toHaveLength(2);
  });

  it('gives the same entries for the same rows, and the same totals for any shard size', async () => {
    const [a, b] = [tempDir(), tempDir()];
    const x = await write(a, 'a.jsonl', 5, 2);
    const y = await write(b, 'a.jsonl', 5, 2);
    expect(y).toEqual(x);
    const one = await write(tempDir(), 'a.jsonl', 5, 5);
    expect(one.map((e) => [e.rows, e.tokens, e.maskedTokens])).toEqual([[5, x.reduce((s, e) => s + e.tokens, 0), x.reduce((s, e) => s + e.maskedTokens, 0)]]);
  });
});

describe('ShardWriter with record batches', () => {
  it('streams shards of many BATCH_TOKENS batches with exactly the bytes encodeShard gives their rows', async () => {
    const dir = tempDir();
    // 70 rows of 10,000 tokens: batches close every 27 rows, shards every 60 rows.
    const big = (r: number): MaskedRow => {
      const ids = Int32Array.from({ length: 10_000 }, (_, i) => (r * 7 + i) % 32_000);
      return { input_ids: ids, labels: ids, position_ids: Int32Array.from({ length: 10_000 }, (_, i) => i), masked: 1 };
    };
    const w = new ShardWriter(dir, 'big.jsonl', 60);
    for (let r = 0; r < 70; r++) await w.add(big(r));
    const entries = await w.finish();
    expect(entries.map((e) => e.rows)).toEqual([60, 10]);
    const rows = Array.from({ length: 70 }, (_, r) => big(r));
    entries.forEach((e, k) => {
      const bytes = fs.readFileSync(path.join(dir, e.file));
      const own = rows.slice(60 * k, 60 * k + e.rows).map(({ masked: _, ...r }) => r);
      expect(Buffer.from(encodeShard(own)).equals(bytes), `shard ${k}`).toBe(true);
      expect(e.sha256).toBe(sha256Hex(bytes));
      // Independently of our codec: apache-arrow's stream reader sees the batches and every row.
      const reader = RecordBatchStreamReader.from(bytes);
      const batches = [...reader];
      expect(batches.map((b) => b.numRows)).toEqual(k === 0 ? [27, 27, 6] : [10]);
    });
  });

  it('writes no empty batch when a batch closes on its size right before the shard ends', async () => {
    const dir = tempDir();
    const n = BATCH_TOKENS / 4;
    const ids = new Int32Array(n);
    const w = new ShardWriter(dir, 'a.jsonl', 10);
    for (let r = 0; r < 4; r++) await w.add({ input_ids: ids, labels: ids, position_ids: ids, masked: 0 });
    const [e] = await w.finish();
    const bytes = fs.readFileSync(path.join(dir, e.file));
    expect([...RecordBatchStreamReader.from(bytes)].map((b) => b.numRows)).toEqual([4]);
    expect(decodeShard(bytes, e.file).rows).toBe(4);
  });
});
