/**
 * The shard container through the real CLI: every shard of a fresh directory is an Arrow IPC stream
 * that apache-arrow's own stream reader reads (not our codec), in the order `state.json` gives
 * `load_from_disk`; a version 1 directory (file-format shards) still verifies, inspects and trains;
 * and the README's JavaScript example runs as written.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RecordBatchStreamReader, type RecordBatch } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2, meap, readShards, repoRoot, slimpajama, tempDir, treeDigest } from '../helpers/cli.ts';
import { toVersion1 } from '../helpers/v1.ts';

let v2: string;
const prepareArgs = (out: string) => ['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--tokenizer', gpt2, '--seq-len', '128', '--limit', '30', '--shard-rows', '16', '--progress', 'none'];

beforeAll(() => {
  v2 = path.join(tempDir(), 'v2');
  const r = meap(prepareArgs(v2));
  expect(r.code, r.stderr).toBe(0);
});

const json = (dir: string, name: string) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));

describe('a fresh directory', () => {
  it('holds shards that apache-arrow\'s RecordBatchStreamReader reads one by one, to the rows our codec decodes', () => {
    const { manifest, rows } = readShards(v2);
    expect(manifest.shards.length).toBeGreaterThan(1);
    const state = json(v2, 'state.json');
    const streamed: { input_ids: number[]; labels: number[]; position_ids: number[] }[] = [];
    // load_from_disk opens exactly the files state.json lists, each with pa.ipc.open_stream, and concatenates them.
    for (const { filename } of state._data_files as { filename: string }[]) {
      const batches: RecordBatch[] = [...RecordBatchStreamReader.from(fs.readFileSync(path.join(v2, filename)))];
      expect(batches, filename).toHaveLength(1);
      const batch = batches[0];
      expect(batch.schema.fields.map((f) => `${f.name}:${f.type}:${f.nullable}`)).toEqual(['input_ids:List<Int32>:false', 'labels:List<Int32>:false', 'position_ids:List<Int32>:false']);
      for (let r = 0; r < batch.numRows; r++) {
        const row = batch.get(r)!;
        streamed.push({
          input_ids: Array.from(row.input_ids as Iterable<number>),
          labels: Array.from(row.labels as Iterable<number>),
          position_ids: Array.from(row.position_ids as Iterable<number>),
        });
      }
    }
    expect(state._data_files.map((f: { filename: string }) => f.filename)).toEqual(manifest.shards.map((s) => s.file));
    expect(streamed.length).toBe(json(v2, 'dataset_info.json').splits.train.num_examples);
    expect(streamed).toEqual(rows.map((r) => ({ input_ids: Array.from(r.inputIds), labels: Array.from(r.labels), position_ids: Array.from(r.positions) })));
  });
});

describe('a version 1 directory', () => {
  let v1: string;
  beforeAll(() => {
    v1 = path.join(tempDir(), 'v1');
    fs.cpSync(v2, v1, { recursive: true });
    toVersion1(v1);
  });

  it('still passes `meap verify` and `meap inspect`', () => {
    expect(json(v1, 'manifest.json')).toMatchObject({ version: 1 });
    expect(fs.readFileSync(path.join(v1, readShards(v1).manifest.shards[0].file)).subarray(0, 6).toString()).toBe('ARROW1');
    const v = meap(['verify', v1]);
    expect(v.stdout + v.stderr, 'verify').toMatch(/OK/);
    expect(v.code).toBe(0);
    const i = meap(['inspect', v1, '--row', '20']);
    expect(i.code, i.stderr).toBe(0);
    expect(i.stdout).toBe(meap(['inspect', v2, '--row', '20']).stdout.replaceAll(v2, v1).replace('meap-shards v2', 'meap-shards v1'));
  });

  it('still trains', () => {
    const r = meap(['train', '--data', v1, '--out', path.join(tempDir(), 'run'), '--model', 'tiny', '--steps', '2', '--batch-size', '2', '--backend', 'wasm', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('is left as it is by the same `meap prepare` command', () => {
    const before = treeDigest(v1);
    const r = meap(prepareArgs(v1));
    expect(r.code, r.stderr).toBe(0);
    expect(treeDigest(v1)).toEqual(before);
  });
});

describe('the README', () => {
  it('runs its JavaScript example as written, on a fresh directory', () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Use the shards in your trainer'));
    const code = /```js\n([\s\S]*?)```/.exec(section)![1];
    const work = tempDir('meap-readme-');
    fs.symlinkSync(v2, path.join(work, 'shards'));
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(work, 'node_modules'));
    fs.writeFileSync(path.join(work, 'example.mjs'), code);
    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: work, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { manifest, rows } = readShards(v2);
    expect(r.stdout).toBe(`${manifest.shards[0].rows} ${rows[0].inputIds.length}\n`);
  });
});
