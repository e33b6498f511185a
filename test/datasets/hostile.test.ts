/**
 * Hostile inputs at the reader level: every file is built here, in a temp dir, so nothing large is
 * committed. End-to-end behaviour (exit codes, stderr, skip counts) is in test/pipeline/hostile-cli.test.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { toExamples } from '../../datasets/sft-records.ts';
import { MAX_JSON_DEPTH } from '../../datasets/json-text.ts';
import { DEFAULT_MAX_LINE_BYTES } from '../../datasets/lines.ts';
import type { RawItem } from '../../datasets/types.ts';
import { toDocument } from '../../datasets/slimpajama.ts';
import { decompressZstd, FrameWalker, MAX_WINDOW_BYTES } from '../../datasets/zstd.ts';
import { FIXTURES, readAll, useScratch, values } from './helpers.ts';

const scratch = useScratch();
const write = scratch.write;

const errors = (items: RawItem[]) => items.flatMap((i) => (i.kind === 'error' ? [i.error] : []));

// ---------------------------------------------------------------------------------------------
// zstd frames built by hand (RFC 8878), so the tests need no zstd binary and can say exactly
// what the header claims.

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
/** Window_Descriptor for a window of 2^log bytes. */
const windowDescriptor = (log: number) => (log - 10) << 3;
const blockHeader = (type: 0 | 1 | 2, size: number, last: boolean) => {
  const b = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [b & 0xff, (b >> 8) & 0xff, (b >> 16) & 0xff];
};

/** One frame holding `data` in raw blocks, with a window of 2^windowLog bytes. */
function rawFrame(data: Uint8Array, windowLog = 17): Uint8Array {
  const parts: number[] = [...MAGIC, 0x00, windowDescriptor(windowLog)];
  const out: Uint8Array[] = [Uint8Array.from(parts)];
  const step = 128 * 1024;
  if (data.length === 0) out.push(Uint8Array.from(blockHeader(0, 0, true)));
  for (let at = 0; at < data.length; at += step) {
    const piece = data.subarray(at, Math.min(data.length, at + step));
    out.push(Uint8Array.from(blockHeader(0, piece.length, at + step >= data.length)), piece);
  }
  return Buffer.concat(out);
}

/**
 * A zstd bomb: `blocks` RLE blocks of 128 KiB of `byte` each, 4 bytes apiece on disk. 65,536 blocks
 * (8 GiB of output) take 256 KiB.
 */
function rleBomb(blocks: number, byte = 0): Uint8Array {
  const out = new Uint8Array(6 + 4 * blocks);
  out.set([...MAGIC, 0x00, windowDescriptor(17)]);
  for (let k = 0; k < blocks; k++) out.set([...blockHeader(1, 128 * 1024, k === blocks - 1), byte], 6 + 4 * k);
  return out;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

// ---------------------------------------------------------------------------------------------

describe('valid input in odd forms', () => {
  const expected = [{ text: 'a\u0000b' }, { text: 'lone \uFFFD and \uFFFD' }, { text: 'bad \uFFFD\uFFFD utf8' }, { text: 'x' }];
  const body = Buffer.concat([
    Buffer.from('\uFEFF{"text":"a\\u0000b"}\r\n{"text":"lone \\ud800 and \\udfff"}\r\n', 'utf8'),
    Buffer.from('{"text":"bad '),
    Buffer.from([0xff, 0xfe]),
    Buffer.from(' utf8"}\r\n\r\n{"text":"x"}'), // no final line end
  ]);

  it('reads a BOM, CRLF line ends, escaped NULs; lone surrogates and invalid UTF-8 become U+FFFD', async () => {
    const items = await readAll(await write('odd.jsonl', body));
    expect(values(items)).toEqual(expected);
    expect(items.map((i) => i.kind === 'record' && i.where.line)).toEqual([1, 2, 3, 5]);
  });

  it('reads the same from a .jsonl.zst', async () => {
    expect(values(await readAll(await write('odd.jsonl.zst', rawFrame(body))))).toEqual(expected);
  });

  it('reads the same from a .json array with a BOM and CRLFs', async () => {
    const json = Buffer.concat([
      Buffer.from('\uFEFF[\r\n{"text":"a\\u0000b"},\r\n{"text":"lone \\ud800 and \\udfff"},\r\n{"text":"bad '),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(' utf8"},\r\n{"text":"x"}\r\n]\r\n'),
    ]);
    expect(values(await readAll(await write('odd.json', json)))).toEqual(expected);
  });
});

describe('broken records are error items naming the line or record; reading goes on', () => {
  it('invalid JSON, raw NULs, non-objects and a null text', async () => {
    const lines = [
      '{"text": "broken',
      Buffer.concat([Buffer.from('{"text":"raw '), Buffer.from([0]), Buffer.from(' nul"}')]),
      '[1, 2]',
      '"just a string"',
      '42',
      'null',
      '{"text": null}',
      '{"text": "fine"}',
      Buffer.from([0, 0, 0]),
    ];
    const file = await write('bad.jsonl', Buffer.concat(lines.flatMap((l) => [Buffer.from(l), Buffer.from('\n')])));
    const items = await readAll(file);
    expect(errors(items).map((e) => [e.reason, e.where.line])).toEqual([
      ['invalidJson', 1],
      ['invalidJson', 2],
      ['invalidJson', 9],
    ]);
    const mapped = items.flatMap((i) => {
      if (i.kind !== 'record') return [];
      const r = toDocument(i.value, i.where, { textField: 'text', excludeSets: new Set() });
      return [[r.kind === 'doc' ? 'doc' : r.error.reason, i.where.line]];
    });
    expect(mapped).toEqual([
      ['notAnObject', 3],
      ['notAnObject', 4],
      ['notAnObject', 5],
      ['notAnObject', 6],
      ['missingText', 7],
      ['doc', 8],
    ]);
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels as invalidJson, never a stack overflow`, async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const lines = [
      deep(100_000),
      // A surrogate escape sends the value through the recursive repair; it must not be reached.
      `{"text":"\\ud800","meta":${deep(100_000)}}`,
      `{"text":"ok","meta":${deep(MAX_JSON_DEPTH - 1)}}`,
      `{"text":"one too deep","meta":${deep(MAX_JSON_DEPTH)}}`,
    ];
    const items = await readAll(await write('deep.jsonl', `${lines.join('\n')}\n`));
    expect(items.map((i) => (i.kind === 'error' ? i.error.reason : 'record'))).toEqual(['invalidJson', 'invalidJson', 'record', 'invalidJson']);
    expect(errors(items)[0].message).toBe(`deep.jsonl:1: line is not valid JSON: nested more than ${MAX_JSON_DEPTH} levels deep`);

    const array = await readAll(await write('deep.json', `[{"text":"a"}, ${deep(100_000)}, {"text":"b"}]`));
    expect(array.map((i) => (i.kind === 'error' ? [i.error.reason, i.error.where.record] : 'record'))).toEqual(['record', ['invalidJson', 1], 'record']);
  });
});

describe('a 50 MB document on one line', () => {
  const size = 50_000_000;

  it('is read whole under the default line cap, then refused as tooLong by the default --max-doc-chars', async () => {
    const file = await write('big.jsonl', `{"text":"${'x'.repeat(size)}"}\n{"text":"after"}\n`);
    const items = await readAll(file);
    expect(items).toHaveLength(2);
    const first = items[0];
    if (first.kind !== 'record') throw first.error;
    expect((first.value as { text: string }).text.length).toBe(size);

    const opts = { textField: 'text', excludeSets: new Set<string>() };
    const r = toDocument(first.value, first.where, { ...opts, maxChars: 8_000_000 });
    expect(r.kind === 'skip' && r.error).toMatchObject({ reason: 'tooLong', where: { file: 'big.jsonl', line: 1 } });
    expect(r.kind === 'skip' && r.error.message).toContain(`has ${size} characters, more than the limit of 8000000`);
    expect(toDocument(first.value, first.where, { ...opts, maxChars: size })).toMatchObject({ kind: 'doc' });
  });

  it('the line cap holds an 8,000,000-character document written entirely as \\uXXXX escapes', () => {
    // Astral characters are two escapes for two UTF-16 units, so 6 bytes per unit is the worst case.
    expect(DEFAULT_MAX_LINE_BYTES).toBeGreaterThan(8_000_000 * 6 + 1024 * 1024);
  });
});

describe('--max-doc-chars in the record mappers', () => {
  const where = { file: 'x.jsonl', line: 2 };
  const doc = (value: unknown, maxChars: number, excludeSets = new Set<string>()) => {
    const r = toDocument(value, where, { textField: 'text', excludeSets, maxChars });
    return r.kind === 'doc' ? 'doc' : r.error.reason;
  };
  const sft = (value: unknown, maxChars: number) => {
    const r = toExamples(value, where, { maxChars });
    return r.kind === 'examples' ? 'examples' : `${r.error.reason}: ${r.error.message}`;
  };

  it('counts characters as code points, so an astral character is one', () => {
    expect(doc({ text: '😀😀😀' }, 3)).toBe('doc');
    expect(doc({ text: '😀😀😀😀' }, 3)).toBe('tooLong');
    expect(doc({ text: 'abcd' }, 4)).toBe('doc');
    expect(doc({ text: 'abcde' }, 4)).toBe('tooLong');
  });

  it('an excluded set or an empty text is filtered before the length is checked', () => {
    const rec = { text: 'abcdef', meta: { redpajama_set_name: 'RedPajamaGithub' } };
    expect(doc(rec, 3, new Set(['RedPajamaGithub']))).toBe('excludedSet');
    expect(doc(rec, 3)).toBe('tooLong');
  });

  it('refuses any Alpaca or ShareGPT text field over the limit, naming it', () => {
    const long = 'y'.repeat(11);
    expect(sft({ instruction: 'i', input: '', output: 'o' }, 10)).toBe('examples');
    expect(sft({ instruction: long, output: 'o' }, 10)).toBe('tooLong: x.jsonl:2: field "instruction" has 11 characters, more than the limit of 10 (raise --max-doc-chars, or pass --on-error skip to leave such records out)');
    expect(sft({ instruction: 'i', input: long, output: 'o' }, 10)).toMatch(/^tooLong: .*field "input" has 11/);
    expect(sft({ instruction: 'i', output: long }, 10)).toMatch(/^tooLong: .*field "output" has 11/);
    const turn = (from: string, value: string) => ({ from, value });
    expect(sft({ conversations: [turn('human', 'q'), turn('gpt', long)] }, 10)).toMatch(/^tooLong: .*conversation turn 1 has 11/);
    expect(sft({ system_prompt: long, conversations: [turn('human', 'q'), turn('gpt', 'a')] }, 10)).toMatch(/^tooLong: .*field "system_prompt" has 11/);
    expect(sft({ conversations: [turn('human', 'q'), turn('gpt', 'a')] }, 10)).toBe('examples');
  });
});

describe('zstd', () => {
  it('reads a hand-built frame, and one with a window of exactly 128 MiB', async () => {
    const data = Buffer.from('{"text":"a"}\n'.repeat(20_000));
    expect(values(await readAll(await write('raw.jsonl.zst', rawFrame(data))))).toHaveLength(20_000);
    expect(values(await readAll(await write('w27.jsonl.zst', rawFrame(data, 27))))).toHaveLength(20_000);
  });

  it('refuses a frame whose window is over 128 MiB before decoding it', async () => {
    const wide = await write('w28.jsonl.zst', rawFrame(Buffer.from('{"text":"a"}\n'), 28));
    await expect(readAll(wide)).rejects.toMatchObject({ reason: 'windowTooLarge', where: { file: 'w28.jsonl.zst' } });
    await expect(readAll(wide)).rejects.toThrow('zstd frame needs a 256 MiB window, more than the 128 MiB limit');
    // Single segment: the window is the declared content size (8 bytes of Frame_Content_Size here).
    const fcs = Buffer.alloc(8);
    fcs.writeBigUInt64LE(1n << 40n);
    const single = Buffer.concat([Buffer.from([...MAGIC, 0xe0]), fcs, Buffer.from(blockHeader(1, 1000, true)), Buffer.from([0x41])]);
    await expect(readAll(await write('fcs.jsonl.zst', single))).rejects.toMatchObject({ reason: 'windowTooLarge' });
    expect(MAX_WINDOW_BYTES).toBe(128 * 1024 * 1024);
  });

  it('throws truncatedFile for a stream cut anywhere, and corruptFile for a reserved block type', async () => {
    const whole = rawFrame(Buffer.from('{"text":"a"}\n'.repeat(100)));
    for (const cut of [3, 5, 6, 8, 20, whole.length - 1]) {
      await expect(readAll(await write(`cut${cut}.jsonl.zst`, whole.subarray(0, cut))), `cut ${cut}`).rejects.toMatchObject({ reason: 'truncatedFile' });
    }
    const reserved = Buffer.from([...MAGIC, 0x00, windowDescriptor(17), ...blockHeader(0, 0, true)]);
    reserved[6] |= 3 << 1;
    await expect(readAll(await write('reserved.jsonl.zst', reserved))).rejects.toMatchObject({ reason: 'corruptFile' });
  });

  it('cuts the input so that each push to fzstd completes at most one block', () => {
    const bomb = rleBomb(1000);
    const walker = new FrameWalker('b.zst');
    const cuts: number[] = [];
    for (let at = 0; at < bomb.length; ) {
      at = walker.advance(bomb, at, Math.min(bomb.length, at + 64 * 1024));
      cuts.push(at);
    }
    // Header (6 bytes) plus the first block, then one 4-byte RLE block per push.
    expect(cuts[0]).toBe(10);
    expect(cuts.slice(1).every((c, k) => c - cuts[k] === 4)).toBe(true);
    expect(walker.atFrameBoundary()).toBe(true);
  });

  it('a bomb (8 GiB of zeros in 256 KiB) yields 128 KiB chunks on demand and stops when the consumer does', async () => {
    const bomb = rleBomb(65_536);
    let chunks = 0;
    for await (const c of decompressZstd(once(bomb), 'bomb.jsonl.zst')) {
      expect(c.length).toBeLessThanOrEqual(128 * 1024);
      if (++chunks === 100) break;
    }
    expect(chunks).toBe(100);
  });

  it('a bomb of zeros read as JSONL stops at the line cap with lineTooLong on line 1', async () => {
    const file = await write('bomb.jsonl.zst', rleBomb(65_536));
    expect(file.size).toBe(6 + 4 * 65_536);
    const err = await readAll(file).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ reason: 'lineTooLong', where: { file: 'bomb.jsonl.zst', line: 1 } });
  });
});

describe('Parquet with the wrong columns', () => {
  it('reads the rows; the mappers name the missing field and the fields there are', async () => {
    const file = await write('renamed.parquet', renameParquetColumn(await fs.readFile(path.join(FIXTURES, 'alpaca/alpaca_head128.parquet')), 'text', 'body'));
    const rows = values(await readAll(file)) as Record<string, unknown>[];
    expect(rows).toHaveLength(128);
    expect(Object.keys(rows[0]).sort()).toEqual(['body', 'input', 'instruction', 'output']);
    const r = toDocument(rows[0], { file: file.rel, record: 0 }, { textField: 'text', excludeSets: new Set() });
    expect(r.kind === 'skip' && r.error.message).toBe(
      'renamed.parquet (record 0): record has no string field "text" (found no such field) (string fields here: "instruction", "input", "output", "body"; choose one with --text-field)',
    );
  });
});

describe('empty files', () => {
  it('an empty .jsonl has no records; an empty .jsonl.zst, .json or .parquet is a broken file', async () => {
    expect(await readAll(await write('empty.jsonl', ''))).toEqual([]);
    await expect(readAll(await write('empty.jsonl.zst', ''))).rejects.toMatchObject({ reason: 'truncatedFile', where: { file: 'empty.jsonl.zst' } });
    await expect(readAll(await write('empty.json', ''))).rejects.toMatchObject({ reason: 'corruptFile', where: { file: 'empty.json' } });
    await expect(readAll(await write('empty.parquet', ''))).rejects.toMatchObject({ reason: 'corruptFile', where: { file: 'empty.parquet' } });
  });
});

/**
 * Renames a column by rewriting its name in the Thrift footer, where it appears as a length-prefixed
 * string in the schema and in each column chunk's path. Same length only, so no offset moves.
 */
function renameParquetColumn(bytes: Uint8Array, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('names must have the same length');
  const out = Buffer.from(bytes);
  const footerLen = out.readUInt32LE(out.length - 8);
  const start = out.length - 8 - footerLen;
  const pattern = Buffer.from([from.length, ...Buffer.from(from)]);
  let hits = 0;
  for (let i = out.indexOf(pattern, start); i !== -1 && i < out.length - 8; i = out.indexOf(pattern, i + 1)) {
    out.write(to, i + 1, 'latin1');
    hits++;
  }
  if (hits === 0) throw new Error(`no column "${from}" in the footer`);
  return out;
}
