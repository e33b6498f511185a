import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { readRecords } from '../../datasets/read-records.ts';
import { fixture, readAll, useScratch, values } from './helpers.ts';

const scratch = useScratch();
const write = scratch.write;

describe('real fixtures', () => {
  for (const [chunk, count] of [
    ['chunk_0', 153],
    ['chunk_1', 141],
  ] as const) {
    it(`${chunk}: .jsonl and .jsonl.zst yield the same ${count} records`, async () => {
      const plain = await readAll(await fixture(`slimpajama/${chunk}.jsonl`));
      const zst = await readAll(await fixture(`slimpajama/${chunk}.jsonl.zst`));
      expect(plain).toHaveLength(count);
      expect(values(zst)).toEqual(values(plain));
      expect(zst.map((i) => i.kind === 'record' && i.where.line)).toEqual(plain.map((_, k) => k + 1));
      expect(plain[0]).toMatchObject({ where: { file: `slimpajama/${chunk}.jsonl`, line: 1 } });
      for (const v of values(plain) as { text: string; meta: { redpajama_set_name: string } }[]) {
        expect(typeof v.text).toBe('string');
        expect(v.meta.redpajama_set_name).toMatch(/^RedPajama/);
        expect((v.text as unknown as { isWellFormed(): boolean }).isWellFormed()).toBe(true);
      }
    });
  }

  it('chunk_0 decodes escaped surrogate pairs into the emoji', async () => {
    const texts = values(await readAll(await fixture('slimpajama/chunk_0.jsonl'))).map((v) => (v as { text: string }).text);
    expect(texts.some((t) => t.includes('\u{1F642}'))).toBe(true);
  });

  it('arxiv20 yields 20 records', async () => {
    const items = await readAll(await fixture('redpajama/arxiv20.jsonl'));
    expect(values(items)).toHaveLength(20);
  });

  it('alpaca .json, .jsonl and .parquet yield the same 128 records (parquet adds `text`)', async () => {
    const json = await readAll(await fixture('alpaca/alpaca_head128.json'));
    const jsonl = values(await readAll(await fixture('alpaca/alpaca_head128.jsonl')));
    const parquet = values(await readAll(await fixture('alpaca/alpaca_head128.parquet'))) as Record<string, unknown>[];
    expect(json).toHaveLength(128);
    expect(values(json)).toEqual(jsonl);
    expect(json[5]).toMatchObject({ kind: 'record', where: { file: 'alpaca/alpaca_head128.json', record: 5 } });
    expect(parquet.map(({ text: _text, ...rest }) => rest)).toEqual(jsonl);
    const r0 = parquet[0] as { instruction: string; output: string; text: string };
    expect(r0.text.startsWith('Below is an instruction')).toBe(true);
    expect(r0.text.endsWith(r0.output)).toBe(true);
  });

  it('parquet items carry 0-based record indices', async () => {
    const items = await readAll(await fixture('alpaca/alpaca_head128.parquet'));
    expect(items.map((i) => i.kind === 'record' && i.where)).toEqual(
      items.map((_, k) => ({ file: 'alpaca/alpaca_head128.parquet', record: k })),
    );
  });

  it('onBytes adds up to the file size (compressed bytes for .zst)', async () => {
    for (const rel of ['slimpajama/chunk_1.jsonl.zst', 'slimpajama/chunk_1.jsonl', 'alpaca/alpaca_head128.json', 'alpaca/alpaca_head128.parquet']) {
      const file = await fixture(rel);
      let n = 0;
      await readAll(file, { onBytes: (b) => (n += b) });
      expect(n, rel).toBe(file.size);
    }
  });
});

describe('limit', () => {
  it('stops after N records, for every format', async () => {
    for (const rel of [
      'slimpajama/chunk_0.jsonl',
      'slimpajama/chunk_0.jsonl.zst',
      'alpaca/alpaca_head128.json',
      'alpaca/alpaca_head128.parquet',
    ]) {
      const items = await readAll(await fixture(rel), { limit: 7 });
      expect(items, rel).toHaveLength(7);
    }
  });

  it('stops reading the file early', async () => {
    const file = await fixture('slimpajama/chunk_0.jsonl');
    let n = 0;
    await readAll(file, { limit: 1, onBytes: (b) => (n += b) });
    expect(n).toBeLessThan(file.size);
  });

  it('counts error items but not blank lines', async () => {
    const file = await write('limit.jsonl', '\n{"a":1}\n\nnope\n{"a":2}\n{"a":3}\n');
    const items = await readAll(file, { limit: 2 });
    expect(items.map((i) => i.kind)).toEqual(['record', 'error']);
  });

  it('closes the file when the consumer breaks out', async () => {
    const file = await fixture('slimpajama/chunk_0.jsonl.zst');
    for await (const _ of readRecords(file)) break;
    // No assertion on handles is portable; reaching here without a hang or an unhandled error is the test.
  });
});

describe('unreadable files', () => {
  it('throws unreadableFile for a missing file and a directory, never a raw Node error', async () => {
    for (const format of ['jsonl', 'jsonl.zst', 'json', 'parquet'] as const) {
      for (const abs of [path.join(scratch.dir(), 'missing.x'), scratch.dir()]) {
        const err = await readAll({ abs, rel: 'the/file', format, size: 0 }).catch((e) => e);
        expect(err, `${format} ${abs}`).toBeInstanceOf(InputError);
        expect(err.reason).toBe('unreadableFile');
        expect(err.message).toMatch(/^the\/file: cannot read file: (no such file or directory \(ENOENT\)|is a directory \(EISDIR\))$/);
      }
    }
  });

  it.skipIf(process.getuid?.() === 0)('throws unreadableFile for a file without read permission', async () => {
    const file = await write('secret.jsonl', '{"a":1}\n');
    await fs.chmod(file.abs, 0o000);
    await expect(readAll(file)).rejects.toMatchObject({ reason: 'unreadableFile', message: expect.stringContaining('EACCES') });
  });
});
