import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { splitLines, type Line } from '../../datasets/lines.ts';
import { chunksOf } from './helpers.ts';

async function lines(src: AsyncIterable<Uint8Array>, maxLineBytes?: number): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of splitLines(src, { file: 'f.jsonl', maxLineBytes })) out.push(l);
  return out;
}

describe('splitLines', () => {
  it('strips a leading BOM and accepts LF and CRLF', async () => {
    const got = await lines(chunksOf('\uFEFFa\r\nb\nc\r\n'));
    expect(got).toEqual([
      { text: 'a', line: 1 },
      { text: 'b', line: 2 },
      { text: 'c', line: 3 },
    ]);
  });

  it('keeps a U+FEFF that is not at the start of the file', async () => {
    const got = await lines(chunksOf('a\n\uFEFFb'));
    expect(got.map((l) => l.text)).toEqual(['a', '\uFEFFb']);
  });

  it('handles a BOM, a CRLF and a multi-byte character split across chunks', async () => {
    const bytes = Buffer.from('\uFEFFé😀\r\nx\r\n', 'utf8');
    const parts = [...bytes].map((b) => Uint8Array.of(b));
    const got = await lines(chunksOf(...parts));
    expect(got).toEqual([
      { text: 'é😀', line: 1 },
      { text: 'x', line: 2 },
    ]);
  });

  it('yields a last line without a newline, and blank lines with their numbers', async () => {
    const got = await lines(chunksOf('a\n\n', 'b'));
    expect(got).toEqual([
      { text: 'a', line: 1 },
      { text: '', line: 2 },
      { text: 'b', line: 3 },
    ]);
  });

  it('replaces invalid UTF-8 with U+FFFD', async () => {
    const got = await lines(chunksOf(Uint8Array.of(0x61, 0xff, 0x62, 0x0a, 0xc3)));
    expect(got.map((l) => l.text)).toEqual(['a\uFFFDb', '\uFFFD']);
  });

  it('refuses a line over the byte limit, naming the line, before the newline arrives', async () => {
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('ok\n');
      for (;;) yield new Uint8Array(1000).fill(0x61);
    }
    const err = await lines(endless(), 10_000).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err.reason).toBe('lineTooLong');
    expect(err.where).toEqual({ file: 'f.jsonl', line: 2 });
    expect(err.message).toMatch(/^f\.jsonl:2: /);
  });

  it('measures the limit in bytes, not characters, and excludes the line ending', async () => {
    // 4 chars, 8 bytes.
    await expect(lines(chunksOf('éééé\r\n'), 8)).resolves.toHaveLength(1);
    await expect(lines(chunksOf('éééé\n'), 7)).rejects.toMatchObject({ reason: 'lineTooLong' });
  });
});
