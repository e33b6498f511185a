import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAt, writeAt } from '../../core/file-range.ts';
import { tempDir } from '../helpers/cli.ts';

describe('readAt and writeAt', () => {
  it('write a range at a position and read it back whole, and read short only where the file ends', async () => {
    const file = path.join(tempDir('meap-range-'), 'f.bin');
    const fh = await fs.open(file, 'w+');
    try {
      const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
      await writeAt(fh, bytes, 24);
      await writeAt(fh, new Uint8Array(24).fill(7), 0);
      const back = new Uint8Array(1000);
      expect(await readAt(fh, back, 24)).toBe(1000);
      expect(back).toEqual(bytes);
      const tail = new Uint8Array(100);
      expect(await readAt(fh, tail, 974)).toBe(50);
      expect(tail.subarray(0, 50)).toEqual(bytes.subarray(950));
      expect(await readAt(fh, new Uint8Array(8), 5000)).toBe(0);
    } finally {
      await fh.close();
    }
  });
});
