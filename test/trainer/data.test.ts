/**
 * The trainer's data loader on shards that the real CLI prepared from the fixtures: exact epoch
 * coverage, padding, seeded order, cursor resume (also across epochs), and refusal of datasets a
 * model could not train on.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeShard, encodeShard } from '../../datasets/shards/codec.ts';
import type { ShardRow } from '../../datasets/shards/stream.ts';
import { MeapError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { Loader, dataIdentity, openDatasets, sequentialBatches, trainingOrder, type Batch, type Dataset } from '../../trainer/data.ts';
import { fixtures, gpt2, llama2, meap, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

const alpaca = path.join(fixtures, 'alpaca', 'alpaca_head128.json');

function prepare(input: string, tok: string, extra: string[] = []): string {
  const out = path.join(tempDir('meap-data-'), 'out');
  const r = meap(['prepare', input, '--out', out, '--tokenizer', tok, '--seq-len', '128', '--shard-rows', '16', '--progress', 'none', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

const rowHash = (ids: Int32Array, labels: Int32Array, pos: Int32Array) =>
  createHash('sha256')
    .update(new Uint8Array(new Int32Array([ids.length]).buffer))
    .update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength))
    .update(new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength))
    .update(new Uint8Array(pos.buffer, pos.byteOffset, pos.byteLength))
    .digest('hex');

/** Row r of a batch, cut to `len` tokens. */
const batchRow = (b: Batch, r: number, len = b.length) => ({
  inputIds: b.inputIds.subarray(r * b.length, r * b.length + len),
  labels: b.labels.subarray(r * b.length, r * b.length + len),
  positionIds: b.positionIds.subarray(r * b.length, r * b.length + len),
});

const hashOne = (b: Batch) => {
  expect(b.rows).toBe(1);
  return rowHash(b.inputIds, b.labels, b.positionIds);
};

const directHashes = (dirs: string[]) =>
  dirs.flatMap((d) => readShards(d).rows.map((r) => rowHash(r.inputIds, r.labels, r.positions)));

const counts = (hashes: string[]) => {
  const m = new Map<string, number>();
  for (const h of hashes) m.set(h, (m.get(h) ?? 0) + 1);
  return m;
};

async function take(loader: Loader, sizes: number[]): Promise<Batch[]> {
  const out: Batch[] = [];
  for (const n of sizes) out.push(await loader.next(n));
  return out;
}

async function rejection(p: Promise<unknown>): Promise<MeapError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  return e as MeapError;
}

/** A copy of `dir` whose shard `index` went through `edit`, with the manifest's sha256 updated to match. */
function editShard(dir: string, index: number, edit: (rows: ShardRow[]) => void): { dir: string; file: string } {
  const copy = path.join(tempDir('meap-edit-'), 'out');
  fs.cpSync(dir, copy, { recursive: true });
  const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
  const entry = manifest.shards[index];
  const shard = decodeShard(fs.readFileSync(path.join(copy, entry.file)), entry.file);
  const rows: ShardRow[] = Array.from({ length: shard.rows }, (_, r) => {
    const col = (c: keyof typeof shard.columns) => shard.columns[c].values.slice(shard.columns[c].offsets[r], shard.columns[c].offsets[r + 1]);
    return { input_ids: col('input_ids'), labels: col('labels'), position_ids: col('position_ids') };
  });
  edit(rows);
  const bytes = encodeShard(rows);
  fs.writeFileSync(path.join(copy, entry.file), bytes);
  entry.sha256 = sha256Hex(bytes);
  fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return { dir: copy, file: entry.file };
}

describe('trainer data loader', () => {
  let pre: string; // pretrain, Llama-2: 224 shards of 16 rows
  let sft: string; // SFT, Llama-2: variable lengths, -100 labels
  let sftGpt2: string;
  let ds: Dataset;

  beforeAll(() => {
    pre = prepare(slimpajama('chunk_0.jsonl'), llama2);
    sft = prepare(alpaca, llama2, ['--mode', 'sft']);
    sftGpt2 = prepare(alpaca, gpt2, ['--mode', 'sft']);
  });

  beforeAll(async () => {
    ds = await openDatasets([pre, sft]);
  });

  it('describes the datasets', () => {
    const rows = readShards(pre).rows.length + readShards(sft).rows.length;
    expect(ds.info).toMatchObject({ dirs: [pre, sft], rows, vocabSize: 32000, maskTokenId: 32000, vocabRows: 32064, seqLen: 128, modes: ['pretrain', 'sft'] });
    expect(ds.info.tokenizerSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('yields every row of an epoch exactly once, then starts the next epoch', async () => {
    const expected = directHashes([pre, sft]);
    expect(expected).toHaveLength(ds.info.rows);
    const loader = new Loader(ds, { seed: 7 });
    const got: string[] = [];
    for (let i = 0; i < ds.info.rows; i++) got.push(hashOne(await loader.next(1)));
    expect(counts(got)).toEqual(counts(expected));
    expect(loader.cursor()).toEqual({ epoch: 1, window: 0, offset: 0 });
    // Shuffled, not manifest order; and epoch 1 is another order of the same rows.
    expect(got.slice(0, 50)).not.toEqual(expected.slice(0, 50));
    const next: string[] = [];
    for (let i = 0; i < ds.info.rows; i++) next.push(hashOne(await loader.next(1)));
    expect(counts(next)).toEqual(counts(expected));
    expect(next).not.toEqual(got);
  });

  it('trainingOrder names, from the manifests alone, the rows the Loader yields, epoch after epoch', async () => {
    const byIndex = directHashes([pre, sft]);
    for (const [seed, windowShards] of [[7, undefined], [2, 3]] as const) {
      const loader = new Loader(ds, { seed, windowShards });
      const got: string[] = [];
      for (let i = 0; i < 2 * ds.info.rows; i++) got.push(hashOne(await loader.next(1)));
      expect([...trainingOrder(ds, seed, 2, windowShards)].map((i) => byIndex[i])).toEqual(got);
    }
  });

  it('takes rows window by window: with windowShards 1 each shard is yielded whole before the next', async () => {
    const d = await openDatasets([pre]);
    const shardOf = new Map<string, number>();
    readShards(pre).rows.forEach((r, i) => shardOf.set(rowHash(r.inputIds, r.labels, r.positions), Math.floor(i / 16)));
    expect(shardOf.size).toBe(d.info.rows); // rows are distinct, so a hash names its shard
    const loader = new Loader(d, { seed: 3, windowShards: 1 });
    const seq: number[] = [];
    for (let i = 0; i < d.info.rows; i++) seq.push(shardOf.get(hashOne(await loader.next(1)))!);
    const runs: number[] = [];
    for (let i = 0; i < seq.length; i++) if (i === 0 || seq[i] !== seq[i - 1]) runs.push(seq[i]);
    expect(new Set(runs).size).toBe(d.shards.length); // no shard is revisited within the epoch
    expect(runs).not.toEqual([...runs].sort((a, b) => a - b));
  });

  it('pads a batch to its longest row with inputIds 0, labels -100, positionIds 0', async () => {
    const d = await openDatasets([sft]);
    const a = new Loader(d, { seed: 11 });
    const b = new Loader(d, { seed: 11 });
    let sawPadding = false;
    for (let k = 0; k < 40; k++) {
      const batch = await a.next(8);
      const singles = await take(b, Array(8).fill(1));
      expect(batch.rows).toBe(8);
      expect(batch.length).toBe(Math.max(...singles.map((s) => s.length)));
      for (const arr of [batch.inputIds, batch.labels, batch.positionIds]) expect(arr).toHaveLength(8 * batch.length);
      singles.forEach((s, r) => {
        const row = batchRow(batch, r);
        expect(row.inputIds.subarray(0, s.length)).toEqual(s.inputIds);
        expect(row.labels.subarray(0, s.length)).toEqual(s.labels);
        expect(row.positionIds.subarray(0, s.length)).toEqual(s.positionIds);
        if (s.length < batch.length) sawPadding = true;
        expect(row.inputIds.subarray(s.length).every((v) => v === 0)).toBe(true);
        expect(row.labels.subarray(s.length).every((v) => v === -100)).toBe(true);
        expect(row.positionIds.subarray(s.length).every((v) => v === 0)).toBe(true);
      });
    }
    expect(sawPadding).toBe(true);
  });

  it('gives the same batches for the same seed and another order for another seed', async () => {
    const sizes = [5, 17, 64, 3, 200, 1];
    const one = await take(new Loader(ds, { seed: 42 }), sizes);
    const two = await take(new Loader(ds, { seed: 42 }), sizes);
    const other = await take(new Loader(ds, { seed: 43 }), sizes);
    expect(two).toEqual(one);
    expect(other).not.toEqual(one);
    expect(other.map((b) => b.rows)).toEqual(sizes);
  });

  it('resumes from a cursor mid-window, at a window boundary and across an epoch boundary', async () => {
    const N = ds.info.rows;
    for (const skip of [[37], 'window 2', [N - 10]] as const) {
      const a = new Loader(ds, { seed: 5 });
      if (skip === 'window 2') {
        while (a.cursor().window < 2) await a.next(1);
        expect(a.cursor()).toEqual({ epoch: 0, window: 2, offset: 0 });
      } else await take(a, [...skip]);
      const c = JSON.parse(JSON.stringify(a.cursor()));
      const b = new Loader(ds, { seed: 5 });
      b.restore(c);
      expect(b.cursor()).toEqual(c);
      const sizes = [4, 9, 30, 1, 64];
      expect(await take(b, sizes)).toEqual(await take(a, sizes));
      expect(b.cursor()).toEqual(a.cursor());
    }
    // The last skip crossed into epoch 1; a restore there also matches, and restoring the same
    // loader backwards replays what it gave before.
    const a = new Loader(ds, { seed: 5 });
    await take(a, [N - 3]);
    const c = a.cursor();
    const first = await take(a, [8, 8]);
    expect(a.cursor().epoch).toBe(1);
    const mid = a.cursor();
    const later = await take(a, [8]);
    a.restore(c);
    expect(await take(a, [8, 8])).toEqual(first);
    const b = new Loader(ds, { seed: 5 });
    b.restore(mid);
    expect(await take(b, [8])).toEqual(later);
  });

  it('sequentialBatches yields every row once in manifest order, padded like the loader', async () => {
    const expected = directHashes([pre, sft]);
    const got: string[] = [];
    const sizes: number[] = [];
    for await (const b of sequentialBatches(ds, 50)) {
      sizes.push(b.rows);
      for (let r = 0; r < b.rows; r++) {
        const full = batchRow(b, r);
        let len = b.length;
        while (len > 0 && full.labels[len - 1] === -100 && full.inputIds[len - 1] === 0 && full.positionIds[len - 1] === 0) len--;
        const row = batchRow(b, r, len);
        got.push(rowHash(row.inputIds, row.labels, row.positionIds));
      }
    }
    expect(got).toEqual(expected);
    expect(sizes.slice(0, -1).every((n) => n === 50)).toBe(true);
  });

  it('sequentialBatches with maxRows yields the first rows only, the last batch cut short', async () => {
    const all: string[] = [];
    for await (const b of sequentialBatches(ds, 7)) for (let r = 0; r < b.rows; r++) all.push(JSON.stringify(Array.from(batchRow(b, r).inputIds)));
    for (const max of [1, 7, 20, ds.info.rows, ds.info.rows + 5]) {
      const got: string[] = [];
      const sizes: number[] = [];
      for await (const b of sequentialBatches(ds, 7, max)) {
        sizes.push(b.rows);
        for (let r = 0; r < b.rows; r++) got.push(JSON.stringify(Array.from(batchRow(b, r).inputIds)));
      }
      expect(got.map((row) => row.replace(/(,0)+\]$/, ']'))).toEqual(all.slice(0, max).map((row) => row.replace(/(,0)+\]$/, ']')));
      expect(sizes.slice(0, -1).every((n) => n === 7)).toBe(true);
    }
  });

  it('dataIdentity changes with the shards a run reads and their order, not with where they are', async () => {
    const id = dataIdentity(ds);
    expect(id).toEqual({ shards: ds.shards.length, rows: ds.info.rows, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const moved = path.join(tempDir('meap-data-'), 'moved');
    fs.cpSync(pre, moved, { recursive: true });
    expect(dataIdentity(await openDatasets([moved, sft]))).toEqual(id);
    expect(dataIdentity(await openDatasets([sft, pre])).sha256).not.toBe(id.sha256);
    expect(dataIdentity(await openDatasets([pre])).sha256).not.toBe(id.sha256);
  });

  it('refuses a cursor that does not fit the datasets', async () => {
    const loader = new Loader(ds, { seed: 0 });
    expect(() => loader.restore({ epoch: 0, window: 10_000, offset: 0 })).toThrow(MeapError);
    expect(() => loader.restore({ epoch: -1, window: 0, offset: 0 })).toThrow(MeapError);
    loader.restore({ epoch: 0, window: 0, offset: 10_000 });
    expect((await rejection(loader.next(1))).message).toMatch(/cursor/);
  });

  it('refuses datasets prepared with different tokenizers, naming both directories and the fields', async () => {
    const e = await rejection(openDatasets([sft, sftGpt2]));
    expect(e.kind).toBe('config');
    expect(e.exitCode).toBe(2);
    expect(e.message).not.toContain('\n');
    expect(e.message).toContain(sft);
    expect(e.message).toContain(sftGpt2);
    expect(e.message).toMatch(/sha256 [0-9a-f]{64} vs [0-9a-f]{64}/);
    expect(e.message).toContain('vocabSize 32000 vs 50257');
    expect(e.message).toContain('maskTokenId 32000 vs 50257');
  });

  it('refuses an id outside the embedding, naming the shard file and row', async () => {
    for (const [edit, what] of [
      [(rows: ShardRow[]) => (rows[3].input_ids[5] = 32064), /input id 32064/],
      [(rows: ShardRow[]) => (rows[3].labels[0] = 40000), /label 40000/],
      [(rows: ShardRow[]) => (rows[3].labels[1] = -1), /label -1/],
    ] as const) {
      const bad = editShard(sft, 2, edit);
      const d = await openDatasets([bad.dir]);
      const loader = new Loader(d, { seed: 1 });
      const e = await rejection(take(loader, Array(d.info.rows).fill(1)));
      expect(e.message).toMatch(what);
      expect(e.message).toContain(path.join(bad.dir, bad.file));
      expect(e.message).toContain('(record 3)');
      expect(e.message).toContain('embedding has 32064 rows');
    }
    // 32063 is past the vocabulary but still a row of the (rounded-up) embedding.
    const ok = editShard(sft, 2, (rows) => (rows[3].input_ids[5] = 32063));
    const d = await openDatasets([ok.dir]);
    await take(new Loader(d, { seed: 1 }), [d.info.rows]);
  });

  it('refuses a shard that no longer matches its manifest', async () => {
    const copy = path.join(tempDir('meap-edit-'), 'out');
    fs.cpSync(sft, copy, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
    const file = path.join(copy, manifest.shards[0].file);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 20] ^= 1;
    fs.writeFileSync(file, bytes);
    const d = await openDatasets([copy]);
    const e = await rejection(take(new Loader(d, { seed: 0, windowShards: 100 }), [1]));
    expect(e.kind).toBe('integrity');
    expect(e.message).toContain(file);
    expect(e.message).toContain('sha256');
  });

  it('refuses shard paths outside the directory and datasets without rows', async () => {
    for (const bad of ['../elsewhere.arrow', '/etc/passwd', 'a/../../b.arrow']) {
      const copy = path.join(tempDir('meap-edit-'), 'out');
      fs.cpSync(sft, copy, { recursive: true });
      const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
      manifest.shards[1].file = bad;
      fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(manifest));
      const e = await rejection(openDatasets([copy]));
      expect(e.message).toMatch(/shards\.1\.file|outside its directory/);
    }
    const copy = path.join(tempDir('meap-edit-'), 'out');
    fs.cpSync(sft, copy, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8'));
    manifest.shards = [];
    fs.writeFileSync(path.join(copy, 'manifest.json'), JSON.stringify(manifest));
    const e = await rejection(openDatasets([copy]));
    expect(e.kind).toBe('config');
    expect(e.message).toMatch(/no rows/);
    expect((await rejection(openDatasets([]))).kind).toBe('config');
  });
});
