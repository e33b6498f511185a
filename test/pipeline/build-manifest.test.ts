import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../datasets/shards/read.ts';
import { merge, serializeManifest } from '../../pipeline/build-manifest.ts';
import { slimpajama, tempDir, treeDigest } from '../helpers/cli.ts';
import { toVersion1 } from '../helpers/v1.ts';
import { prepareDir, usageError } from './helpers.ts';

const INPUTS = [slimpajama('chunk_0.jsonl'), slimpajama('chunk_1.jsonl')];
let finishedDir: string | null = null;
const finished = () => (finishedDir ??= prepareDir());

describe('merge', () => {
  it('refuses a directory with no work state and no manifest', async () => {
    expect((await usageError(merge(tempDir()))).message).toMatch(/no meap work state here .*meap prepare/);
  });

  it('refuses while inputs are unfinished, naming them; merges once every partition is done', async () => {
    const dir = prepareDir(['--num-partitions', '2', '--partition', '0'], { inputs: INPUTS });
    for (const name of ['manifest.json', 'dataset_info.json', 'state.json']) expect(fs.existsSync(path.join(dir, name))).toBe(false);
    expect((await usageError(merge(dir))).message).toContain('1 of 2 inputs are not finished (chunk_1.jsonl)');
    expect(fs.existsSync(path.join(dir, '.meap'))).toBe(true);

    prepareDir(['--num-partitions', '2', '--partition', '1'], { inputs: INPUTS, out: dir });
    const m = await merge(dir);
    expect(m.inputs.map((i) => i.path)).toEqual(['chunk_0.jsonl', 'chunk_1.jsonl']);
    expect(fs.existsSync(path.join(dir, '.meap'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe(serializeManifest(m));
    expect(m).toMatchObject({ version: 2, shardFormat: 'arrow-ipc-stream' });
    expect(fs.readdirSync(dir).filter((f) => !f.endsWith('.arrow')).sort()).toEqual(['dataset_info.json', 'manifest.json', 'state.json']);
  });

  it('returns the manifest of a finished directory and changes nothing', async () => {
    const dir = finished();
    const before = treeDigest(dir);
    expect(await merge(dir)).toEqual(await readManifest(dir));
    expect(treeDigest(dir)).toEqual(before);
  });

  it('returns the manifest of a finished version 1 directory and adds nothing to it', async () => {
    const dir = toVersion1(prepareDir());
    const before = treeDigest(dir);
    expect((await merge(dir)).version).toBe(1);
    expect(treeDigest(dir)).toEqual(before);
  });
});

describe('serializeManifest', () => {
  it('gives stable bytes ending in one newline, whatever order the keys came in', async () => {
    const dir = finished();
    const text = fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8');
    const m = await readManifest(dir);
    expect(serializeManifest(m)).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    expect(serializeManifest(reversed(m) as typeof m)).toBe(text);
  });
});
