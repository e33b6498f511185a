import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { readRecords } from '../../datasets/read-records.ts';
import { FIXTURES, readAll, useScratch, values } from './helpers.ts';

const { write } = useScratch();

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
