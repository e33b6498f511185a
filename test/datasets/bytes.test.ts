import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, MeapError } from '../../core/errors.ts';
import { openInput, readBytes, unreadable } from '../../datasets/bytes.ts';
import type { InputFile } from '../../datasets/types.ts';
import { fixture, useScratch } from './helpers.ts';

const scratch = useScratch();

const at = (abs: string, rel: string): InputFile => ({ abs, rel, format: 'jsonl', size: 0 });

async function collect(file: InputFile, chunkSize?: number) {
  const chunks: Uint8Array[] = [];
  const reported: number[] = [];
  for await (const c of readBytes(file, { chunkSize, onBytes: (n) => reported.push(n) })) chunks.push(c);
  return { chunks, reported };
}

describe('openInput', () => {
  it('opens a file and reports its size', async () => {
    const file = await fixture('alpaca/alpaca_head128.jsonl');
    const { handle, size } = await openInput(file);
    try {
      expect(size).toBe(file.size);
    } finally {
      await handle.close();
    }
  });

  it('refuses a directory up front with an unreadableFile InputError', async () => {
    const err = await openInput(at(scratch.dir(), 'some/dir')).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('unreadableFile');
    expect(err.where).toEqual({ file: 'some/dir' });
    expect(err.message).toBe('some/dir: cannot read file: is a directory (EISDIR)');
  });
});

describe('readBytes', () => {
  it('yields chunks that still hold their bytes after later reads, and onBytes matches them', async () => {
    const file = await fixture('slimpajama/chunk_1.jsonl');
    // Chunks are all kept until the end: a reused read buffer would leave them all holding the last read.
    const { chunks, reported } = await collect(file, 64 * 1024);
    expect(chunks.length).toBeGreaterThan(2);
    expect(Buffer.concat(chunks).equals(await fs.readFile(file.abs))).toBe(true);
    expect(reported).toEqual(chunks.map((c) => c.length));
    expect(reported.reduce((a, b) => a + b, 0)).toBe(file.size);
  });

  it('ends cleanly when the size is a multiple of the chunk size, and yields nothing for an empty file', async () => {
    const even = await scratch.write('even.jsonl', Buffer.alloc(3 * 512, 7));
    const { chunks, reported } = await collect(even, 512);
    expect(chunks.map((c) => c.length)).toEqual([512, 512, 512]);
    expect(reported).toEqual([512, 512, 512]);

    const empty = await collect(await scratch.write('empty.jsonl', ''), 512);
    expect(empty).toEqual({ chunks: [], reported: [] });
  });

  it('turns a missing file into a one-line InputError naming the path as the user knows it', async () => {
    const file = at(path.join(scratch.dir(), 'nope', 'missing.jsonl'), 'data/missing.jsonl');
    const err = await collect(file).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('unreadableFile');
    expect(err.where).toEqual({ file: 'data/missing.jsonl' });
    expect(err.message).toBe('data/missing.jsonl: cannot read file: no such file or directory (ENOENT)');
    expect(err.message).not.toContain(scratch.dir());
  });

  it('refuses a directory the same way', async () => {
    await expect(collect(at(scratch.dir(), 'some/dir'))).rejects.toMatchObject({
      reason: 'unreadableFile',
      message: 'some/dir: cannot read file: is a directory (EISDIR)',
    });
  });
});

describe('unreadable', () => {
  it('passes a MeapError through unchanged, so a reader never wraps its own error twice', () => {
    const own = new InputError('corruptFile', 'bad', { file: 'f' });
    expect(unreadable(at('/x', 'f'), own)).toBe(own);
    const wrapped = unreadable(at('/x', 'f'), new Error('boom'));
    expect(wrapped).toBeInstanceOf(MeapError);
    expect(wrapped.message).toBe('f: cannot read file: boom');
  });
});
