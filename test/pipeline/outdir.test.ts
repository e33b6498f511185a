import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../datasets/shards/read.ts';
import { discardIfNothingDone, openOutDir } from '../../pipeline/outdir.ts';
import { readRunFile } from '../../pipeline/workstate/run-records.ts';
import type { RunFile } from '../../schemas/workstate.ts';
import { tempDir, treeDigest } from '../helpers/cli.ts';
import { prepareDir, runFile, usageError } from './helpers.ts';


const fresh = () => path.join(tempDir(), 'out');

/** A finished directory and the run file of the command that made it. */
let finished: string;
let finishedRun: RunFile;
beforeAll(async () => {
  finished = prepareDir();
  const m = await readManifest(finished);
  finishedRun = { settings: m.settings!, inputs: m.inputs.map((i) => i.path) };
});
const copyOfFinished = () => {
  const dir = fresh();
  fs.cpSync(finished, dir, { recursive: true });
  return dir;
};

describe('openOutDir', () => {
  it('starts a new or empty directory and records the run in .meap/run.json', async () => {
    for (const out of [fresh(), tempDir()]) {
      expect(await openOutDir(out, runFile(), false)).toBe('fresh');
      expect(fs.readdirSync(out)).toEqual(['.meap']);
      expect(await readRunFile(out)).toEqual(runFile());
    }
  });

  it('resumes an unfinished directory started with the same settings', async () => {
    const out = fresh();
    await openOutDir(out, runFile(), false);
    expect(await openOutDir(out, runFile(), false)).toBe('resume');
    expect(await readRunFile(out)).toEqual(runFile());
  });

  it('takes new settings in an unfinished directory where no unit finished and no partition is at work', async () => {
    const out = fresh();
    await openOutDir(out, runFile(), false);
    expect(await openOutDir(out, runFile({ seqLen: 512 }), false)).toBe('fresh');
    expect(await readRunFile(out)).toEqual(runFile({ seqLen: 512 }));
    // A lock of a live process (this one) is another partition at work: its settings stay.
    fs.mkdirSync(path.join(out, '.meap', 'locks'));
    fs.writeFileSync(path.join(out, '.meap', 'locks', 'partition-1-of-2.lock'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
    expect((await usageError(openOutDir(out, runFile(), false))).message).toContain('holds an unfinished run with other settings');
  });

  it('refuses an unfinished directory started otherwise once a unit has finished, naming the first difference', async () => {
    const out = fresh();
    await openOutDir(out, runFile(), false);
    // What a finished unit leaves: its completion record.
    fs.mkdirSync(path.join(out, '.meap', 'done'));
    fs.writeFileSync(path.join(out, '.meap', 'done', '0123456789abcdef.json'), '{}');
    const msg = (await usageError(openOutDir(out, runFile({ seqLen: 512, seed: 3 }), false))).message;
    expect(msg).toContain('the output directory holds an unfinished run with other settings: settings.seqLen: this command gives 512, the directory has 256');
    expect((await usageError(openOutDir(out, runFile({}, ['a.jsonl']), false))).message).toContain('inputs: this command gives ["a.jsonl"]');
    expect(await readRunFile(out)).toEqual(runFile());
  });

  it('refuses a directory holding files meap did not write, naming them, even with overwrite', async () => {
    const out = copyOfFinished();
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const before = treeDigest(out);
    for (const overwrite of [false, true]) {
      const msg = (await usageError(openOutDir(out, finishedRun, overwrite))).message;
      expect(msg).toContain('holds files meap did not write (notes.txt)');
    }
    expect(treeDigest(out)).toEqual(before);
  });

  it('refuses shards with neither a manifest nor work state', async () => {
    const out = copyOfFinished();
    fs.rmSync(path.join(out, 'manifest.json'));
    expect((await usageError(openOutDir(out, finishedRun, false))).message).toContain('shards without a manifest or work state');
  });

  it('finds a finished directory with the same settings complete, removing work state a kill left beside the manifest', async () => {
    const out = copyOfFinished();
    const before = treeDigest(out);
    expect(await openOutDir(out, finishedRun, false)).toBe('complete');
    fs.mkdirSync(path.join(out, '.meap/done'), { recursive: true });
    fs.writeFileSync(path.join(out, '.meap/done/x.json'), '{}');
    expect(await openOutDir(out, finishedRun, false)).toBe('complete');
    expect(treeDigest(out)).toEqual(before);
  });

  it("takes Hugging Face's cache files (from map/filter/shuffle on load_from_disk) as part of a finished directory, and --overwrite removes them", async () => {
    const out = copyOfFinished();
    const cache = ['cache-01d9b637a36879e2.arrow', 'cache-7035509236ec4c95_00000_of_00002.arrow'];
    for (const name of cache) fs.writeFileSync(path.join(out, name), 'x');
    const before = treeDigest(out);
    expect(await openOutDir(out, finishedRun, false)).toBe('complete');
    expect(treeDigest(out)).toEqual(before);
    expect(await openOutDir(out, { ...finishedRun, settings: { ...finishedRun.settings, seed: 9 } }, true)).toBe('fresh');
    expect(fs.readdirSync(out)).toEqual(['.meap']);
  });

  it('refuses a finished directory prepared otherwise, naming the difference', async () => {
    const out = copyOfFinished();
    const other = { ...finishedRun, settings: { ...finishedRun.settings, maskRatio: 0.5 } };
    expect((await usageError(openOutDir(out, other, false))).message).toContain('the output directory was prepared differently: settings.maskRatio: this command gives 0.5, the directory has 0.15');
  });

  it('with overwrite, removes the manifest, shards and work state, and starts afresh', async () => {
    const out = copyOfFinished();
    fs.mkdirSync(path.join(out, '.meap/done'), { recursive: true });
    const other = { ...finishedRun, settings: { ...finishedRun.settings, seed: 9 } };
    expect(await openOutDir(out, other, true)).toBe('fresh');
    expect(fs.readdirSync(out)).toEqual(['.meap']);
    expect(fs.readdirSync(path.join(out, '.meap')).sort()).toEqual(['run.json', 'tmp']);
    expect(await readRunFile(out)).toEqual(other);
  });

  it('refuses an --out that is not a directory', async () => {
    const file = path.join(tempDir(), 'file');
    fs.writeFileSync(file, '');
    expect((await usageError(openOutDir(file, runFile(), false))).message).toBe(`${file}: is a file, not a directory (choose a directory for --out)`);
  });
});

describe('discardIfNothingDone', () => {
  it('removes the work state and shards of a run in which no unit finished, and keeps one where a unit did', async () => {
    const out = path.join(tempDir(), 'out');
    await openOutDir(out, runFile(), false);
    fs.writeFileSync(path.join(out, 'part-0123456789abcdef-00000.arrow'), 'half a unit');
    await discardIfNothingDone(out);
    expect(fs.readdirSync(out)).toEqual([]);

    await openOutDir(out, runFile(), false);
    fs.mkdirSync(path.join(out, '.meap', 'done'));
    fs.writeFileSync(path.join(out, '.meap', 'done', '0123456789abcdef.json'), '{}');
    await discardIfNothingDone(out);
    expect(fs.readdirSync(out)).toEqual(['.meap']);
  });
});
