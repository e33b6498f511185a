import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileAtomic, fsyncDir, writeFileAtomic, writeSynced } from '../../core/durable.ts';
import { tempDir } from '../helpers/cli.ts';

let dir: string;
beforeEach(() => {
  dir = tempDir('meap-durable-');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('createFileAtomic', () => {
  it('appends pieces in order and shows the file only on commit', async () => {
    const tmp = path.join(dir, 'tmp');
    const f = await createFileAtomic(dir, 'a.bin', tmp);
    await f.append([Uint8Array.of(1, 2), Buffer.from('xy')]);
    await f.append([new Uint8Array(0), new Uint8Array(100_000).fill(7)]);
    expect(fs.existsSync(path.join(dir, 'a.bin'))).toBe(false);
    await f.commit();
    const bytes = fs.readFileSync(path.join(dir, 'a.bin'));
    expect([...bytes.subarray(0, 4)]).toEqual([1, 2, 0x78, 0x79]);
    expect(bytes.length).toBe(100_004);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('writes the bytes under the final name and leaves nothing in the tmp dir', async () => {
    const tmp = path.join(dir, '.tmp');
    const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff);
    await writeFileAtomic(dir, 'shard-0.arrow', bytes, tmp);
    expect(new Uint8Array(fs.readFileSync(path.join(dir, 'shard-0.arrow')))).toEqual(bytes);
    // The tmp dir is created on demand and emptied by the rename.
    expect(fs.readdirSync(tmp)).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['.tmp', 'shard-0.arrow']);
  });

  it('writes strings as UTF-8 and replaces an existing file whole', async () => {
    const tmp = path.join(dir, 'tmp');
    fs.writeFileSync(path.join(dir, 'manifest.json'), 'an older and much longer content than the new one');
    await writeFileAtomic(dir, 'manifest.json', '{"ü":1}', tmp);
    expect(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).toBe('{"ü":1}');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe('writeSynced', () => {
  it("with 'wx' refuses an existing file and leaves it as it was", async () => {
    const file = path.join(dir, 'lock');
    await writeSynced(file, 'first', 'wx');
    await expect(writeSynced(file, 'second', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    expect(fs.readFileSync(file, 'utf8')).toBe('first');
  });

  it("with the default 'w' replaces the content", async () => {
    const file = path.join(dir, 'f');
    await writeSynced(file, 'a longer first content');
    await writeSynced(file, Buffer.from('short'));
    expect(fs.readFileSync(file, 'utf8')).toBe('short');
  });
});

describe('fsyncDir', () => {
  it('syncs a directory, and fails on one that does not exist', async () => {
    await expect(fsyncDir(dir)).resolves.toBeUndefined();
    await expect(fsyncDir(path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
