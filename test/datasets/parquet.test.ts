import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { FIXTURES, readAll, useScratch } from './helpers.ts';

const { write } = useScratch();

describe('Parquet', () => {
  it('throws corruptFile for a file that is not Parquet', async () => {
    for (const [name, content] of [
      ['text.parquet', 'hello, this is not parquet at all'],
      ['tiny.parquet', 'PA'],
      ['empty.parquet', ''],
    ]) {
      const err = await readAll(await write(name, content)).catch((e) => e);
      expect(err, name).toBeInstanceOf(InputError);
      expect(err.reason, name).toBe('corruptFile');
    }
  });

  it('throws corruptFile for a Parquet file with damaged column data', async () => {
    const bytes = Buffer.from(await fs.readFile(path.join(FIXTURES, 'alpaca/alpaca_head128.parquet')));
    bytes.fill(0xff, 4, 20_000); // keep the footer, wreck the pages
    const err = await readAll(await write('damaged.parquet', bytes)).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('corruptFile');
  });
});
