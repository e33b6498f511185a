import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputError, MeapError } from '../../core/errors.ts';
import { decompressGzip } from '../../datasets/gzip.ts';
import { FIXTURES, chunksOf, readAll, useScratch, values } from './helpers.ts';

const scratch = useScratch();

async function inflate(src: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of decompressGzip(src, 'x.jsonl.gz')) parts.push(c);
  return Buffer.concat(parts);
}

/** 64 MiB of zeros per member, each some 64 KiB on disk. */
const zeros = gzipSync(Buffer.alloc(64 << 20), { level: 9 });

describe('decompressGzip', () => {
  it('decompresses a gzipped fixture to the bytes of the plain file, and concatenated members as gunzip does', async () => {
    const plain = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl'));
    const gz = gzipSync(plain);
    expect((await inflate(chunksOf(gz))).equals(plain)).toBe(true);
    expect((await inflate(chunksOf(gz.subarray(0, 1000), gz.subarray(1000), gz))).equals(Buffer.concat([plain, plain]))).toBe(true);
  });

  it('throws truncatedFile for a stream cut short, an empty file included, and corruptFile for bad data', async () => {
    const gz = gzipSync(Buffer.from('{"text":"hello"}\n'.repeat(1000)));
    for (const cut of [0, 5, 20, gz.length - 4]) {
      const err = await inflate(chunksOf(gz.subarray(0, cut))).catch((e) => e);
      expect(err, `cut at ${cut}`).toBeInstanceOf(InputError);
      expect(err).toMatchObject({ reason: 'truncatedFile', where: { file: 'x.jsonl.gz' } });
      expect(err.message).toBe('x.jsonl.gz: gzip stream ends before its last member is complete (the file was probably cut short while downloading or copying)');
    }
    const flipped = Buffer.from(gz);
    flipped[12] ^= 0xff;
    await expect(inflate(chunksOf(flipped))).rejects.toMatchObject({ reason: 'corruptFile', message: expect.stringMatching(/^x\.jsonl\.gz: not a valid gzip stream: /) });
    await expect(inflate(chunksOf(Buffer.concat([gz, Buffer.from('trailing')])))).rejects.toMatchObject({ reason: 'corruptFile' });
  });

  it('a bomb (1 GiB of zeros in 1 MiB) comes out on demand: 100 chunks read take a few compressed pieces', async () => {
    let pulled = 0;
    async function* pieces() {
      for (let k = 0; k < 16; k++) {
        for (let at = 0; at < zeros.length; at += 16 << 10) {
          pulled++;
          yield zeros.subarray(at, at + (16 << 10));
        }
      }
    }
    let chunks = 0;
    for await (const c of decompressGzip(pieces(), 'bomb.jsonl.gz')) {
      expect(c.length).toBeLessThanOrEqual(64 << 10);
      if (++chunks === 100) break;
    }
    expect(chunks).toBe(100);
    expect(pulled).toBeLessThanOrEqual(4);
  });

  it('a bomb of zeros read as JSONL stops at the line cap with lineTooLong on line 1', async () => {
    const file = await scratch.write('bomb.jsonl.gz', Buffer.concat([zeros, zeros]));
    await expect(readAll(file)).rejects.toMatchObject({ reason: 'lineTooLong', where: { file: 'bomb.jsonl.gz', line: 1 } });
  });
});

describe('gzip inputs', () => {
  it('.jsonl.gz and .json.gz give the records of the plain files', async () => {
    const lines = '{"text":"a"}\n{"text":"b"}\n';
    expect(values(await readAll(await scratch.write('x.jsonl.gz', gzipSync(lines))))).toEqual([{ text: 'a' }, { text: 'b' }]);
    expect(values(await readAll(await scratch.write('x.json.gz', gzipSync('[{"text":"a"},{"text":"b"}]'))))).toEqual([{ text: 'a' }, { text: 'b' }]);
  });

  it('refuses compressed bytes read as a plain format, naming the compression and the format to use', async () => {
    const gz = gzipSync('{"text":"a"}\n');
    const cases: [string, Uint8Array, string][] = [
      ['gz.jsonl', gz, 'gz.jsonl: this file is gzip-compressed, not plain JSON Lines (name it .jsonl.gz, or pass --format jsonl.gz)'],
      ['zst.jsonl', await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl.zst')), 'zst.jsonl: this file is zstd-compressed, not plain JSON Lines (name it .jsonl.zst, or pass --format jsonl.zst)'],
      ['gz.json', gzipSync('[]'), 'gz.json: this file is gzip-compressed, not plain JSON (name it .json.gz, or pass --format json.gz)'],
      ['zst.json', await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl.zst')), 'zst.json: this file is zstd-compressed, not plain JSON (decompress it first)'],
    ];
    for (const [name, bytes, message] of cases) {
      const err = await readAll(await scratch.write(name, bytes)).catch((e) => e);
      // Not an InputError: --on-error skip must not count it as one bad record and go on.
      expect(err).toBeInstanceOf(MeapError);
      expect(err).not.toBeInstanceOf(InputError);
      expect(err.message).toBe(message);
    }
    const forced = { ...(await scratch.write('named.jsonl.gz', gz)), format: 'jsonl' as const };
    await expect(readAll(forced)).rejects.toThrow('named.jsonl.gz: this file is gzip-compressed, not plain JSON Lines (drop --format, or pass --format jsonl.gz)');
  });
});
