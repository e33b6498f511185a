import * as fs from 'node:fs';
import * as path from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError, MeapError } from '../../../core/errors.ts';
import { sha256Hex } from '../../../core/hash.ts';
import { MANIFEST, readManifest, readShard, shardPath, shardRow } from '../../../datasets/shards/read.ts';
import type { Manifest } from '../../../schemas/manifest.ts';
import { gpt2, meap, readShards, slimpajama, tempDir } from '../../helpers/cli.ts';

let root: string;
let out: string;
let manifest: Manifest;
let shardFile: string;

beforeAll(() => {
  root = tempDir('meap-read-');
  out = path.join(root, 'out');
  const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '-o', out, '-t', gpt2, '--seq-len', '256', '--limit', '20', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
  manifest = readShards(out).manifest;
  expect(manifest.shards).toHaveLength(1);
  shardFile = path.join(out, manifest.shards[0].file);
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** A directory holding only a manifest.json with this text. */
function withManifest(name: string, text: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, MANIFEST), text);
  return dir;
}

async function failure(p: Promise<unknown>): Promise<MeapError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MeapError);
  const e = err as MeapError;
  expect(e.kind).toBe('integrity');
  expect(e.exitCode).toBe(1);
  expect(e.message).not.toContain('\n');
  return e;
}

describe('readManifest', () => {
  it('reads what prepare wrote', async () => {
    expect(await readManifest(out)).toEqual(manifest);
  });

  it('refuses a directory that is not meap output as a usage error (exit 2), saying what it is', async () => {
    const usage = async (dir: string) => {
      const err = await readManifest(dir).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(MeapError);
      expect((err as MeapError).exitCode).toBe(2);
      expect((err as MeapError).where).toEqual({ file: dir });
      return (err as MeapError).message;
    };
    const nowhere = path.join(root, 'nowhere');
    expect(await usage(nowhere)).toBe(`${nowhere}: no such directory (pass a directory that \`meap prepare\` wrote)`);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    expect(await usage(empty)).toBe(`${empty}: not a meap output directory (no manifest.json) (pass a directory that \`meap prepare\` wrote)`);
    const unfinished = path.join(root, 'unfinished');
    fs.mkdirSync(path.join(unfinished, '.meap'), { recursive: true });
    expect(await usage(unfinished)).toContain('holds an unfinished `meap prepare` (no manifest.json yet)');
    const other = withManifest('other-tool', '{"name": "a package"}');
    expect(await usage(other)).toBe(`${other}: not a meap output directory: its manifest.json is not meap's (pass a directory that \`meap prepare\` wrote)`);
    expect(await usage(withManifest('array', '[]'))).toContain("its manifest.json is not meap's");
  });

  it('refuses a manifest that is not JSON, pointing to meap verify', async () => {
    const dir = withManifest('not-json', '{"format": "meap-shards",');
    const e = await failure(readManifest(dir));
    expect(e.message).toBe(`${path.join(dir, MANIFEST)}: the manifest is not valid JSON (run \`meap verify ${dir}\` to check every shard, then prepare the directory again)`);
  });

  it('names where a manifest breaks the schema', async () => {
    const broken = structuredClone(manifest) as unknown as { shards: Array<{ rows: unknown }> };
    broken.shards[0].rows = -1;
    const dir = withManifest('bad-rows', JSON.stringify(broken));
    const e = await failure(readManifest(dir));
    expect(e.where).toEqual({ file: path.join(dir, MANIFEST) });
    expect(e.message).toMatch(/: the manifest does not match the schema at shards\.0\.rows: .*\(run `meap verify /);
  });
});

describe('shardPath', () => {
  it('joins a relative name to the directory', () => {
    expect(shardPath(out, 'part-00000.arrow')).toBe(path.join(out, 'part-00000.arrow'));
    expect(shardPath(out, 'sub/part-00000.arrow')).toBe(path.join(out, 'sub', 'part-00000.arrow'));
  });

  it.each(['../x', 'sub/../../x', '/abs', '/etc/passwd', ''])('refuses %j as an integrity error', (name) => {
    const e = (() => {
      try {
        shardPath(out, name);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(MeapError);
    expect((e as MeapError).kind).toBe('integrity');
    expect((e as MeapError).where).toEqual({ file: name });
  });
});

describe('readShard', () => {
  it('decodes a shard that matches its manifest entry', async () => {
    const { rows, sha256 } = manifest.shards[0];
    const shard = await readShard(shardPath(out, manifest.shards[0].file), { rows, sha256 });
    expect(shard.rows).toBe(rows);
  });

  it('refuses a shard whose sha256 is not the manifest one', async () => {
    const e = await failure(readShard(shardFile, { sha256: '0'.repeat(64) }));
    expect(e.where).toEqual({ file: shardFile });
    expect(e.message).toBe(`${shardFile}: the shard does not match the sha256 in its manifest: it changed after \`meap prepare\` (run \`meap verify ${path.dirname(shardFile)}\` to check every shard, then prepare the directory again)`);
  });

  it('refuses a shard whose row count is not the manifest one', async () => {
    const rows = manifest.shards[0].rows;
    const e = await failure(readShard(shardFile, { rows: rows + 1 }));
    expect(e.message).toMatch(new RegExp(`^${shardFile}: the shard holds ${rows} rows, its manifest says ${rows + 1} \\(run \`meap verify `));
  });

  it('turns truncated bytes into a one-line integrity error naming the file and a byte, wherever the cut falls', async () => {
    const bytes = fs.readFileSync(shardFile);
    for (const n of [0, 6, 100, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const file = path.join(root, `cut-${n}.arrow`);
      fs.writeFileSync(file, bytes.subarray(0, n));
      const e = await failure(readShard(file));
      expect(e).toBeInstanceOf(IntegrityError);
      expect(e.where.file, `cut at ${n}`).toBe(file);
      expect(e.where.byte, `cut at ${n}`).toBeLessThanOrEqual(n);
      expect(e.message, `cut at ${n}`).toMatch(new RegExp(`^${file} \\(byte ${e.where.byte}\\): not a meap shard: .*\\(truncated\\?\\) \\(run \`meap verify `));
      // With the manifest's checks, the sha256 catches it before decoding is tried.
      const checked = await failure(readShard(file, { sha256: manifest.shards[0].sha256, rows: manifest.shards[0].rows }));
      expect(checked.message).toContain('does not match the sha256');
    }
  });

  it('refuses Arrow data with other columns, an Arrow IPC file without its sha256, and a missing file', async () => {
    const foreign = path.join(root, 'foreign.arrow');
    fs.writeFileSync(foreign, tableToIPC(tableFromArrays({ text_ids: Int32Array.of(1, 2) }), 'stream'));
    const e = await failure(readShard(foreign));
    expect(e.message).toMatch(new RegExp(`^${foreign} \\(byte \\d+\\): not a meap shard: the schema message \\(input_ids, labels, position_ids, each List<Int32>\\) is not what meap writes \\(run \`meap verify `));

    // A version 1 shard reaches apache-arrow only once its bytes match the manifest's sha256.
    const file = path.join(root, 'foreign-file.arrow');
    const bytes = tableToIPC(tableFromArrays({ text_ids: Int32Array.of(1, 2) }), 'file');
    fs.writeFileSync(file, bytes);
    expect((await failure(readShard(file))).message).toContain(`${file} (byte 0): not a version 2 shard: an Arrow IPC file, as version 1 directories hold, is read only through its manifest, once its sha256 matches`);
    const checked = await failure(readShard(file, { sha256: sha256Hex(bytes) }));
    expect(checked.message).toBe(`${file}: not a meap shard: columns are [text_ids], expected [input_ids, labels, position_ids] (run \`meap verify ${root}\` to check every shard, then prepare the directory again)`);

    const missing = path.join(root, 'missing.arrow');
    expect((await failure(readShard(missing))).message).toMatch(new RegExp(`^${missing}: cannot read the shard: ENOENT \\(run \`meap verify `));
  });
});

describe('shardRow', () => {
  it("returns each row's input_ids, labels and position_ids", async () => {
    const shard = await readShard(shardFile);
    const plain = (a: Int32Array) => Array.from(a);
    const got = Array.from({ length: shard.rows }, (_, r) => {
      const row = shardRow(shard, r);
      return { inputIds: plain(row.inputIds), labels: plain(row.labels), positions: plain(row.positionIds) };
    });
    // readShards slices the columns on its own, so the two agree only if shardRow takes the right ranges.
    const want = readShards(out).rows.map((r) => ({ inputIds: plain(r.inputIds), labels: plain(r.labels), positions: plain(r.positions) }));
    expect(got).toEqual(want);
    expect(got.every((r) => r.inputIds.length > 0 && r.labels.length === r.inputIds.length && r.positions.length === r.inputIds.length)).toBe(true);
  });
});
