import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { decompressZstd } from '../../datasets/zstd.ts';
import { FIXTURES, chunksOf } from './helpers.ts';

async function inflate(src: AsyncIterable<Uint8Array>): Promise<{ bytes: Buffer; maxChunk: number }> {
  const parts: Uint8Array[] = [];
  let maxChunk = 0;
  for await (const c of decompressZstd(src, 'x.jsonl.zst')) {
    parts.push(c);
    maxChunk = Math.max(maxChunk, c.length);
  }
  return { bytes: Buffer.concat(parts), maxChunk };
}

describe('decompressZstd', () => {
  it('decompresses the fixture to the bytes of the plain file, in small chunks', async () => {
    const zst = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl.zst'));
    const plain = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl'));
    // One big input chunk: slicing must happen inside.
    const { bytes, maxChunk } = await inflate(chunksOf(zst));
    expect(bytes.equals(plain)).toBe(true);
    expect(maxChunk).toBeLessThanOrEqual(128 * 1024);
  });

  it('decompresses concatenated frames, as zstd -d does', async () => {
    const zst = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_1.jsonl.zst'));
    const plain = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_1.jsonl'));
    const { bytes } = await inflate(chunksOf(zst, zst));
    expect(bytes.equals(Buffer.concat([plain, plain]))).toBe(true);
  });

  it('throws truncatedFile for a stream cut mid-frame, also when cut inside the checksum', async () => {
    const zst = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl.zst'));
    for (const cut of [zst.length - 2, zst.length - 5, 200_000, 10]) {
      const err = await inflate(chunksOf(zst.subarray(0, cut))).catch((e) => e);
      expect(err, `cut at ${cut}`).toBeInstanceOf(InputError);
      expect(err.reason).toBe('truncatedFile');
      expect(err.where.file).toBe('x.jsonl.zst');
    }
  });

  it('throws truncatedFile for an empty file, as zstd does', async () => {
    await expect(inflate(chunksOf(new Uint8Array(0)))).rejects.toMatchObject({ reason: 'truncatedFile' });
  });

  it('throws corruptFile for data that is not zstd', async () => {
    const err = await inflate(chunksOf('this is plainly not a zstd frame, just text\n'.repeat(10))).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('corruptFile');
  });
});
