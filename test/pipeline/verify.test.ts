import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { verify } from '../../pipeline/verify.ts';
import { tempDir } from '../helpers/cli.ts';
import { reencodeShard, toVersion1 } from '../helpers/v1.ts';
import { prepareDir } from './helpers.ts';

let clean: string;
let shard: string;
beforeAll(() => {
  clean = prepareDir(['--shard-rows', '40']);
  shard = JSON.parse(fs.readFileSync(path.join(clean, 'manifest.json'), 'utf8')).shards[0].file;
});

/** A copy of the clean directory, changed by `edit`. */
function damaged(edit: (dir: string) => void): string {
  const dir = path.join(tempDir(), 'out');
  fs.cpSync(clean, dir, { recursive: true });
  edit(dir);
  return dir;
}

function editManifest(dir: string, edit: (m: Record<string, any>) => void) {
  const file = path.join(dir, 'manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(m);
  fs.writeFileSync(file, JSON.stringify(m));
}

/** Any edit of the manifest changes its bytes, so state.json's fingerprint no longer matches. */
const fingerprint = { file: 'state.json', problem: '_fingerprint is not what the manifest gives; prepare the directory again' };

/** The first shard rewritten with its rows in `format`, its sha256 in the manifest updated. */
function reencodeFirstShard(dir: string, format: 'arrow-ipc-file' | 'arrow-ipc-stream') {
  const sha256 = reencodeShard(path.join(dir, shard), format);
  editManifest(dir, (m) => (m.shards[0].sha256 = sha256));
}

describe('verify', () => {
  it('finds no problem in a directory as prepare left it', async () => {
    const r = await verify(clean);
    expect(r.problems).toEqual([]);
    expect(r.manifest.shards.length).toBeGreaterThan(1);
  });

  it('reports a file the manifest does not list', async () => {
    const dir = damaged((d) => fs.writeFileSync(path.join(d, 'notes.txt'), 'x'));
    expect((await verify(dir)).problems).toEqual([{ file: 'notes.txt', problem: expect.stringMatching(/not listed in the manifest/) }]);
  });

  it("names Hugging Face's cache files apart and finds no problem in them", async () => {
    const dir = damaged((d) => {
      fs.writeFileSync(path.join(d, 'cache-271001630465c983.arrow'), 'x');
      fs.writeFileSync(path.join(d, 'cache-0a_00001_of_00002.arrow'), 'x');
    });
    const r = await verify(dir);
    expect(r.problems).toEqual([]);
    expect(r.hfCacheFiles).toEqual(['cache-0a_00001_of_00002.arrow', 'cache-271001630465c983.arrow']);
  });

  it('reports a flipped byte against that shard alone', async () => {
    const dir = damaged((d) => {
      const file = path.join(d, shard);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length >> 1] ^= 0xff;
      fs.writeFileSync(file, bytes);
    });
    const { problems } = await verify(dir);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.file === shard)).toBe(true);
    expect(problems[0].problem).toMatch(/^sha256 is [0-9a-f]{12}…, the manifest says [0-9a-f]{12}…$/);
  });

  it('does not decode a shard whose sha256 is wrong: flipped header bytes could make the Arrow reader loop', async () => {
    const dir = damaged((d) => {
      const file = path.join(d, shard);
      const bytes = fs.readFileSync(file);
      for (let i = 8; i < 24; i++) bytes[i] ^= 0xff;
      fs.writeFileSync(file, bytes);
    });
    const { problems } = await verify(dir);
    expect(problems.map((p) => p.file)).toEqual(problems.map(() => shard));
    expect(problems.some((p) => /^sha256 is /.test(p.problem))).toBe(true);
    expect(problems.some((p) => /not a valid meap shard/.test(p.problem))).toBe(false);
  });

  it('reports a missing shard', async () => {
    const dir = damaged((d) => fs.rmSync(path.join(d, shard)));
    expect((await verify(dir)).problems).toEqual([{ file: shard, problem: 'missing' }]);
  });

  it('reports an edited count against the shard, and totals that no longer add up against the manifest', async () => {
    let tokens = 0;
    const dir = damaged((d) =>
      editManifest(d, (m) => {
        tokens = m.shards[0].tokens;
        m.shards[0].tokens += 1;
      }),
    );
    const { problems } = await verify(dir);
    expect(problems).toContainEqual({ file: shard, problem: `holds ${tokens} tokens, the manifest says ${tokens + 1}` });
    expect(problems).toContainEqual({ file: 'manifest.json', problem: expect.stringMatching(/^totals\.tokens is \d+, its shards add up to \d+$/) });
    expect(problems).toContainEqual({ file: 'dataset_info.json', problem: 'splits is not what the manifest gives; prepare the directory again' });
    expect(problems).toContainEqual(fingerprint);
    expect(problems).toHaveLength(4);
  });

  it('reports totals that do not match the inputs', async () => {
    const dir = damaged((d) => editManifest(d, (m) => (m.totals.documents += 1)));
    expect((await verify(dir)).problems).toEqual([{ file: 'manifest.json', problem: 'totals.documents is 21, its inputs add up to 20' }, fingerprint]);
  });

  it('reports a shard in another format than the manifest says', async () => {
    const dir = damaged((d) => reencodeFirstShard(d, 'arrow-ipc-file'));
    expect((await verify(dir)).problems).toEqual([{ file: shard, problem: 'is in the arrow-ipc-file format, the manifest says arrow-ipc-stream' }, fingerprint]);
    const claimsFile = damaged((d) => editManifest(d, (m) => (m.shardFormat = 'arrow-ipc-file')));
    const { problems } = await verify(claimsFile);
    expect(problems.filter((p) => p.problem === 'is in the arrow-ipc-stream format, the manifest says arrow-ipc-file')).toHaveLength(problems.length - 1);
  });

  it('reports missing, edited and unlisted Hugging Face files', async () => {
    const missing = damaged((d) => fs.rmSync(path.join(d, 'state.json')));
    expect((await verify(missing)).problems).toEqual([{ file: 'state.json', problem: 'missing' }]);
    const edited = damaged((d) => {
      const file = path.join(d, 'dataset_info.json');
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"num_examples": ', '"num_examples": 1'));
    });
    expect((await verify(edited)).problems).toEqual([{ file: 'dataset_info.json', problem: 'splits is not what the manifest gives; prepare the directory again' }]);
    const relaid = damaged((d) => {
      const file = path.join(d, 'state.json');
      fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8')}\n`);
    });
    expect((await verify(relaid)).problems).toEqual([{ file: 'state.json', problem: 'its layout is not what the manifest gives; prepare the directory again' }]);
    const garbage = damaged((d) => fs.writeFileSync(path.join(d, 'state.json'), 'not json'));
    expect((await verify(garbage)).problems).toEqual([{ file: 'state.json', problem: 'the file is not what the manifest gives; prepare the directory again' }]);
  });

  it('verifies a version 1 directory (file-format shards, no Hugging Face files), and holds it to that format', async () => {
    const v1 = damaged(toVersion1);
    const report = await verify(v1);
    expect(report.problems).toEqual([]);
    expect(report.manifest.version).toBe(1);
    const streamShard = damaged((d) => {
      toVersion1(d);
      reencodeFirstShard(d, 'arrow-ipc-stream');
    });
    expect((await verify(streamShard)).problems).toEqual([{ file: shard, problem: 'is in the arrow-ipc-stream format, the manifest says arrow-ipc-file' }]);
    const withState = damaged((d) => {
      toVersion1(d);
      fs.copyFileSync(path.join(clean, 'state.json'), path.join(d, 'state.json'));
    });
    expect((await verify(withState)).problems).toEqual([{ file: 'state.json', problem: expect.stringMatching(/not listed in the manifest/) }]);
  });

  it('refuses a directory without a manifest', async () => {
    await expect(verify(tempDir())).rejects.toThrow(MeapError);
  });
});
