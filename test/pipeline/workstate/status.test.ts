import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRunFile, writeUnitResult } from '../../../pipeline/workstate/run-records.ts';
import { readFinishedManifest, runStatus } from '../../../pipeline/workstate/status.ts';
import { tempDir } from '../../helpers/cli.ts';
import { runFile, usageError } from '../helpers.ts';

const INPUTS = ['a.jsonl', 'b.jsonl', 'c.jsonl'];
const done = (dir: string, rel: string) => writeUnitResult(dir, { path: rel, sha256: 'a'.repeat(64), read: { records: 1, items: 1, skipped: {} }, shards: [], counts: {}, skipped: {} });

/** A work directory started by `argv` from `cwd`, split in `partitions`, with `finished` inputs done. */
async function workDir(argv: string[], partitions: number, finished: string[], cwd = '/data') {
  const dir = tempDir();
  await writeRunFile(dir, { ...runFile({}, INPUTS), command: { cwd, argv, partitions } });
  for (const rel of finished) await done(dir, rel);
  return dir;
}

describe('runStatus', () => {
  it('is null without work state, or once the manifest is written', async () => {
    expect(await runStatus(tempDir())).toBeNull();
    const dir = await workDir(['prepare', 'in', '-o', 'out'], 1, []);
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{}');
    expect(await runStatus(dir)).toBeNull();
  });

  it('one process: the command as typed, from where it was typed, without --overwrite; merge once every input is done', async () => {
    const dir = await workDir(['prepare', 'in dir', '-o', 'out', '--overwrite', '--seed', '3'], 1, ['b.jsonl']);
    const s = (await runStatus(dir))!;
    expect(s.inputs).toEqual([{ path: 'a.jsonl', done: false }, { path: 'b.jsonl', done: true }, { path: 'c.jsonl', done: false }]);
    expect(s.partitions).toEqual([{ index: 0, done: false, heldBy: null }]);
    expect(s.finish).toEqual(["cd /data && meap prepare 'in dir' -o out --seed 3"]);
    const all = await workDir(['prepare', 'in', '-o', 'out'], 1, INPUTS);
    expect((await runStatus(all))!.finish).toEqual([`meap merge ${all}`]);
  });

  it('partitions: each one not done and not at work, its partition given afresh, then merge', async () => {
    const dir = await workDir(['prepare', 'in', '--partition=1', '--num-partitions', '3', '-o', 'out'], 3, ['b.jsonl']);
    fs.mkdirSync(path.join(dir, '.meap', 'locks'));
    fs.writeFileSync(path.join(dir, '.meap', 'locks', 'partition-2-of-3.lock'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
    const s = (await runStatus(dir))!;
    expect(s.partitions).toEqual([
      { index: 0, done: false, heldBy: null },
      { index: 1, done: true, heldBy: null },
      { index: 2, done: false, heldBy: { pid: process.pid, host: os.hostname() } },
    ]);
    expect(s.finish).toEqual(['cd /data && meap prepare in -o out --partition 0 --num-partitions 3', `meap merge ${dir}`]);
  });

  it('a run file without the command (an older meap): no commands, the settings still', async () => {
    const dir = tempDir();
    await writeRunFile(dir, runFile({ seed: 9 }, INPUTS));
    const s = (await runStatus(dir))!;
    expect(s.finish).toBeNull();
    expect(s.settings.seed).toBe(9);
  });
});

describe('readFinishedManifest', () => {
  it('refuses an unfinished directory with the command that finishes it, in one line', async () => {
    const dir = await workDir(['prepare', 'in', '-o', 'out'], 1, ['a.jsonl'], process.cwd());
    expect((await usageError(readFinishedManifest(dir))).message).toBe(`${dir}: the directory holds an unfinished \`meap prepare\`: 1 of 3 inputs done (finish it with \`meap prepare in -o out\`)`);
  });

  it('leaves the other refusals as readManifest gives them', async () => {
    expect((await usageError(readFinishedManifest(tempDir()))).message).toContain('not a meap output directory (no manifest.json)');
  });
});
