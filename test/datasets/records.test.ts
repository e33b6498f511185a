import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { readRecords } from '../../datasets/records.ts';
import { FIXTURES, fixture, readAll, useScratch, values } from './helpers.ts';

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

describe('JSONL', () => {
  it('yields invalidJson with the physical line number for a bad line, and continues', async () => {
    const src = (await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl'), 'utf8')).split('\n');
    // Line 4 becomes a broken record; a blank line before it must not shift the numbering.
    const broken = [src[0], '', src[1], '{"text": "unterminated', ...src.slice(2)].join('\n');
    const file = await write('bad.jsonl', broken);
    const items = await readAll(file);
    expect(items).toHaveLength(154);
    const bad = items[2];
    expect(bad.kind).toBe('error');
    if (bad.kind !== 'error') return;
    expect(bad.error).toBeInstanceOf(InputError);
    expect(bad.error.reason).toBe('invalidJson');
    expect(bad.error.where).toEqual({ file: 'bad.jsonl', line: 4 });
    expect(bad.error.message).toMatch(/^bad\.jsonl:4: line is not valid JSON: /);
    expect(items[3]).toMatchObject({ kind: 'record', where: { line: 5 } });
    expect(items.filter((i) => i.kind === 'record')).toHaveLength(153);
  });

  it('reads BOM + CRLF input', async () => {
    const file = await write('crlf.jsonl', '\uFEFF{"text":"a"}\r\n\r\n{"text":"b\\r\\n"}\r\n');
    const items = await readAll(file);
    expect(items).toEqual([
      { kind: 'record', value: { text: 'a' }, where: { file: 'crlf.jsonl', line: 1 } },
      { kind: 'record', value: { text: 'b\r\n' }, where: { file: 'crlf.jsonl', line: 3 } },
    ]);
  });

  it('turns lone surrogate escapes into U+FFFD, keeps pairs and escaped NULs', async () => {
    const file = await write(
      'sur.jsonl',
      '{"text":"a\\ud800b","k\\udc00":["\\ude42"]}\n{"text":"\\ud83d\\ude42 \\u0000 x"}\n',
    );
    expect(values(await readAll(file))).toEqual([
      { text: 'a\uFFFDb', 'k\uFFFD': ['\uFFFD'] },
      { text: '\u{1F642} \u0000 x' },
    ]);
  });

  it('throws truncatedFile for a truncated copy of chunk_0.jsonl.zst, after the records before the cut', async () => {
    const zst = await fs.readFile(path.join(FIXTURES, 'slimpajama/chunk_0.jsonl.zst'));
    const file = await write('cut.jsonl.zst', zst.subarray(0, Math.floor(zst.length / 2)));
    let records = 0;
    const err = await (async () => {
      for await (const item of readRecords(file)) if (item.kind === 'record') records++;
    })().catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('truncatedFile');
    expect(err.where).toEqual({ file: 'cut.jsonl.zst' });
    expect(records).toBeGreaterThan(0);
    expect(records).toBeLessThan(153);
  });

  it('throws corruptFile for a .zst that is not zstd', async () => {
    const file = await write('fake.jsonl.zst', '{"text":"plain"}\n');
    await expect(readAll(file)).rejects.toMatchObject({ reason: 'corruptFile', where: { file: 'fake.jsonl.zst' } });
  });

  it('throws lineTooLong naming the line', async () => {
    const file = await write('long.jsonl', `{"a":1}\n{"text":"${'x'.repeat(200)}"}\n`);
    await expect(readAll(file, { maxLineBytes: 100 })).rejects.toMatchObject({
      reason: 'lineTooLong',
      where: { file: 'long.jsonl', line: 2 },
    });
  });
});

describe('JSON array', () => {
  it('reads elements of any shape, with strings holding brackets, commas and escapes', async () => {
    const file = await write('odd.json', '\uFEFF [ {"a":"],[{\\"\\\\"}, [1,{"b":[]}] ,"s",\n 3 , null ]  \n');
    expect(values(await readAll(file))).toEqual([{ a: '],[{"\\' }, [1, { b: [] }], 's', 3, null]);
  });

  it('reads an empty array', async () => {
    expect(await readAll(await write('empty.json', ' [ ] '))).toEqual([]);
  });

  it('yields invalidJson with the record index for a bad element, and continues', async () => {
    const file = await write('bad.json', '[{"a":1}, {"a":}, {"a":3}]');
    const items = await readAll(file);
    expect(items.map((i) => i.kind)).toEqual(['record', 'error', 'record']);
    expect(items[1].kind === 'error' && items[1].error).toMatchObject({ reason: 'invalidJson', where: { file: 'bad.json', record: 1 } });
    expect(items[2]).toMatchObject({ where: { record: 2 } });
  });

  it('finds element boundaries across read chunks', async () => {
    const big = Array.from({ length: 40 }, (_, i) => ({ text: `${'é'.repeat(50_000)}${i}` }));
    const file = await write('big.json', JSON.stringify(big));
    expect(values(await readAll(file))).toEqual(big);
  });

  it('keeps escape state across read chunks (1 MiB), wherever the boundary falls', async () => {
    const text = 'q"b\\"e';
    for (const shift of [-3, -2, -1, 0, 1]) {
      // Puts the escaped quote's backslash at byte 2^20 + shift.
      const prefix = '[{"t":"';
      const pad = 'a'.repeat((1 << 20) + shift - prefix.length - 1);
      const value = [{ t: `${pad}${text}` }, { t: 'next,]' }];
      const file = await write(`edge${shift}.json`, JSON.stringify(value));
      expect(values(await readAll(file)), `shift ${shift}`).toEqual(value);
    }
  });

  it('throws corruptFile for a file that is not an array', async () => {
    for (const [name, content] of [
      ['obj.json', '{"text":"x"}'],
      ['blank.json', '  \n'],
      ['after.json', '[1] [2]'],
    ]) {
      const err = await readAll(await write(name, content)).catch((e) => e);
      expect(err, name).toBeInstanceOf(InputError);
      expect(err.reason, name).toBe('corruptFile');
      expect(err.where.file, name).toBe(name);
    }
    await expect(readAll(await write('obj2.json', '{"a":1}'))).rejects.toThrow('expected a JSON array of records');
  });

  it('throws truncatedFile when the array never closes', async () => {
    await expect(readAll(await write('open.json', '[{"a":1}, {"a":'))).rejects.toMatchObject({ reason: 'truncatedFile' });
  });
});

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
