import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freshIndex, stampFiles } from '../../core/stamps.js';
import { tempDir } from '../helpers/cli.ts';

function oldFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(file, past, past);
  return file;
}

/** An index as the bundlers write it; `started` later than the sources' ctime by more than stampFiles' margin. */
function indexOf(dir: string, inputs: string[], started: number, outputs: string[] = []) {
  const stamps = stampFiles(inputs, started, outputs);
  expect(stamps).not.toBeNull();
  const index = path.join(dir, 'index.json');
  fs.writeFileSync(index, JSON.stringify({ inputs: stamps, main: 'x.mjs' }));
  return index;
}

describe('freshIndex', () => {
  it('vouches for an index while no file it stamps has changed, and returns it', () => {
    const dir = tempDir();
    const a = oldFile(dir, 'a.ts', 'export const a = 1;');
    const index = indexOf(dir, [a], Date.now() + 5000);
    expect(freshIndex(index)).toMatchObject({ main: 'x.mjs' });
  });

  it('drops it after an edit, even one that keeps the size and the mtime', () => {
    const dir = tempDir();
    const a = oldFile(dir, 'a.ts', 'export const a = 1;');
    const index = indexOf(dir, [a], Date.now() + 5000);
    const { mtime } = fs.statSync(a);
    fs.writeFileSync(a, 'export const a = 2;');
    fs.utimesSync(a, mtime, mtime); // as `touch -r` or a careful tool would: only the ctime tells
    expect(freshIndex(index)).toBeNull();
  });

  it('drops it when a file it stamps is gone, an output included', () => {
    const dir = tempDir();
    const a = oldFile(dir, 'a.ts', 'a');
    const out = path.join(dir, 'out.mjs');
    fs.writeFileSync(out, 'bundle');
    const index = indexOf(dir, [a], Date.now() + 5000, [out]);
    expect(freshIndex(index)).not.toBeNull();
    fs.rmSync(out);
    expect(freshIndex(index)).toBeNull();
  });

  it('reads a missing, truncated, corrupt or foreign index as stale, never as an error', () => {
    const dir = tempDir();
    const a = oldFile(dir, 'a.ts', 'a');
    const index = indexOf(dir, [a], Date.now() + 5000);
    const text = fs.readFileSync(index, 'utf8');
    expect(freshIndex(path.join(dir, 'missing.json'))).toBeNull();
    for (const bad of [text.slice(0, text.length / 2), '\0\0\0', 'null', '{}', '{"inputs":[]}', '{"inputs":[["a.ts"]]}', '{"inputs":"x"}']) {
      fs.writeFileSync(index, bad);
      expect(freshIndex(index)).toBeNull();
    }
  });
});

describe('stampFiles', () => {
  it('refuses to vouch for a source changed in the two seconds before the build began: the build may have read the old text', () => {
    const dir = tempDir();
    const a = path.join(dir, 'a.ts');
    fs.writeFileSync(a, 'a'); // now; a build that begins 5 s from now, or 1 s from now
    expect(stampFiles([a], Date.now() + 5000)).toHaveLength(1);
    expect(stampFiles([a], Date.now() + 1000)).toBeNull();
    expect(stampFiles([a], Date.now())).toBeNull();
    // Outputs are written by the build itself: their times say nothing.
    expect(stampFiles([], Date.now(), [a])).toHaveLength(1);
  });
});
