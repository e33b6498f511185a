import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File, sha256Hex } from '../../core/hash.ts';
import { tempDir } from '../helpers/cli.ts';

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('sha256Hex', () => {
  it('matches the FIPS 180-2 vectors, for strings and bytes alike', () => {
    expect(sha256Hex('')).toBe(EMPTY);
    expect(sha256Hex('abc')).toBe(ABC);
    expect(sha256Hex(new Uint8Array(0))).toBe(EMPTY);
    expect(sha256Hex(Uint8Array.of(0x61, 0x62, 0x63))).toBe(ABC);
  });
});

describe('sha256File', () => {
  const dir = tempDir('meap-hash-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('equals sha256Hex of the same bytes for a file of several 1 MiB read chunks plus a tail', async () => {
    // Not a multiple of the stream's chunk size, and not periodic in it, so every chunk boundary counts.
    const bytes = new Uint8Array(3 * (1 << 20) + 12345);
    let x = 0x2545f491;
    for (let i = 0; i < bytes.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      bytes[i] = x & 0xff;
    }
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, bytes);
    expect(await sha256File(file)).toBe(sha256Hex(bytes));
  });

  it('hashes an empty file to the empty vector', async () => {
    const file = path.join(dir, 'empty');
    fs.writeFileSync(file, '');
    expect(await sha256File(file)).toBe(EMPTY);
  });
});
