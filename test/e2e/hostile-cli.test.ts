/**
 * Hostile inputs end to end, through the real CLI: each broken file fails the run with exit 2 and one
 * stderr line naming the file (and line or record), never a stack trace; under --on-error skip the
 * same files are counted by reason, but for a file with no good record, which fails there too. Every
 * file is built here in a temp dir.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtures, gpt2, meap, readJsonl, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

const dir = tempDir('meap-hostile-');
const all = path.join(dir, 'all'); // every hostile file, for the --on-error skip run
let outN = 0;
const freshOut = () => path.join(dir, `out-${outN++}`);

const prepare = (inputs: string[], ...extra: string[]) => {
  const out = freshOut();
  const r = meap(['prepare', ...inputs, '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--workers', '1', ...extra]);
  return { ...r, out };
};

// ---------------------------------------------------------------------------------------------
// Builders (zstd frames by hand, RFC 8878, so no zstd binary is needed).

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const blockHeader = (type: 0 | 1, size: number, last: boolean) => {
  const b = (size << 3) | (type << 1) | (last ? 1 : 0);
  return [b & 0xff, (b >> 8) & 0xff, (b >> 16) & 0xff];
};
/** One frame of raw blocks with a window of 2^windowLog bytes. */
function rawFrame(data: Buffer, windowLog: number): Buffer {
  const out: Buffer[] = [Buffer.from([...MAGIC, 0x00, (windowLog - 10) << 3])];
  const step = 128 * 1024;
  for (let at = 0; at < data.length; at += step) {
    const piece = data.subarray(at, Math.min(data.length, at + step));
    out.push(Buffer.from(blockHeader(0, piece.length, at + step >= data.length)), piece);
  }
  return Buffer.concat(out);
}
/** 8 GiB of zeros in 256 KiB: 65,536 RLE blocks of 128 KiB. */
function zstdBomb(): Buffer {
  const blocks = 65_536;
  const out = Buffer.alloc(6 + 4 * blocks);
  out.set([...MAGIC, 0x00, 7 << 3]);
  for (let k = 0; k < blocks; k++) out.set([...blockHeader(1, 128 * 1024, k === blocks - 1), 0], 6 + 4 * k);
  return out;
}
/** Renames a Parquet column in place in the footer (same length, so no offset moves). */
function renameParquetColumn(bytes: Buffer, from: string, to: string): Buffer {
  const out = Buffer.from(bytes);
  const start = out.length - 8 - out.readUInt32LE(out.length - 8);
  const pattern = Buffer.from([from.length, ...Buffer.from(from)]);
  for (let i = out.indexOf(pattern, start); i !== -1; i = out.indexOf(pattern, i + 1)) out.write(to, i + 1, 'latin1');
  return out;
}
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const lines = (...ls: (string | Buffer)[]) => Buffer.concat(ls.flatMap((l) => [Buffer.from(l), Buffer.from('\n')]));

interface Case {
  name: string;
  content: () => string | Buffer;
  /** What stderr's one line starts with after "meap: error: ". */
  where: string;
  reason: string;
  /** Reasons counted for this file under --on-error skip; null where no record of it is good, which fails the run there too. */
  skipped: Record<string, number> | null;
}

const BIG = 50_000_000;

const cases: Case[] = [
  { name: 'invalid.jsonl', content: () => lines('{"text":"ok"}', '{"text": "broken'), where: 'invalid.jsonl:2: line is not valid JSON', reason: 'invalidJson', skipped: { invalidJson: 1 } },
  {
    name: 'raw-nul.jsonl',
    content: () => lines(Buffer.concat([Buffer.from('{"text":"a'), Buffer.from([0]), Buffer.from('b"}')]), '{"text":"ok"}'),
    where: 'raw-nul.jsonl:1: line is not valid JSON',
    reason: 'invalidJson',
    skipped: { invalidJson: 1 },
  },
  { name: 'deep.jsonl', content: () => lines('{"text":"ok"}', deep(100_000)), where: 'deep.jsonl:2: line is not valid JSON: nested more than 1000 levels deep', reason: 'invalidJson', skipped: { invalidJson: 1 } },
  {
    name: 'deep.json',
    content: () => `[{"text":"ok"}, {"text":"\\ud800","meta":${deep(100_000)}}]`,
    where: 'deep.json (record 1): record is not valid JSON: nested more than 1000 levels deep',
    reason: 'invalidJson',
    skipped: { invalidJson: 1 },
  },
  { name: 'non-object.jsonl', content: () => lines('[1, 2]', '"s"', '42', 'null', '{"text":"ok"}'), where: 'non-object.jsonl:1: record is an array, not a JSON object', reason: 'notAnObject', skipped: { notAnObject: 4 } },
  { name: 'null-text.jsonl', content: () => lines('{"text": null}', '{"text":"ok"}'), where: 'null-text.jsonl:1: record has no string field "text" (found null)', reason: 'missingText', skipped: { missingText: 1 } },
  {
    name: 'big.jsonl',
    content: () => `{"text":"${'x'.repeat(BIG)}"}\n`,
    where: `big.jsonl:1: field "text" has ${BIG} characters, more than the limit of 8000000`,
    reason: 'tooLong',
    skipped: { tooLong: 1 },
  },
  {
    name: 'cut.jsonl.zst',
    content: () => rawFrame(fs.readFileSync(slimpajama('chunk_0.jsonl')).subarray(0, 100_000), 17).subarray(0, 60_000),
    where: 'cut.jsonl.zst: zstd stream ends before its last frame is complete',
    reason: 'truncatedFile',
    skipped: { truncatedFile: 1 },
  },
  { name: 'bomb.jsonl.zst', content: zstdBomb, where: 'bomb.jsonl.zst:1: line is longer than the limit', reason: 'lineTooLong', skipped: { lineTooLong: 1 } },
  {
    name: 'wide.jsonl.zst',
    content: () => rawFrame(Buffer.from('{"text":"ok"}\n'), 30),
    where: 'wide.jsonl.zst: zstd frame needs a 1024 MiB window, more than the 128 MiB limit',
    reason: 'windowTooLarge',
    skipped: { windowTooLarge: 1 },
  },
  {
    name: 'wrong-columns.parquet',
    content: () => renameParquetColumn(fs.readFileSync(path.join(fixtures, 'alpaca/alpaca_head128.parquet')), 'text', 'body'),
    where: 'wrong-columns.parquet (record 0): record has no string field "text"',
    reason: 'missingText',
    skipped: null,
  },
  { name: 'empty.jsonl.zst', content: () => '', where: 'empty.jsonl.zst: zstd stream ends', reason: 'truncatedFile', skipped: { truncatedFile: 1 } },
  { name: 'empty.json', content: () => '', where: 'empty.json: expected a JSON array of records', reason: 'corruptFile', skipped: { corruptFile: 1 } },
  { name: 'empty.parquet', content: () => '', where: 'empty.parquet: not a Parquet file', reason: 'corruptFile', skipped: { corruptFile: 1 } },
];

/** Valid input in odd forms, and the same text written plainly; with --mask none their rows must match. */
const odd = Buffer.concat([
  Buffer.from('\uFEFF{"text":"nul \\u0000 here"}\r\n{"text":"lone \\ud800 surrogate"}\r\n\r\n{"text":"bad '),
  Buffer.from([0xff]),
  Buffer.from(' byte"}\r\n'),
]);
const plain = lines(JSON.stringify({ text: 'nul \u0000 here' }), JSON.stringify({ text: 'lone \uFFFD surrogate' }), JSON.stringify({ text: 'bad \uFFFD byte' }));

beforeAll(() => {
  fs.mkdirSync(all);
  for (const c of cases) fs.writeFileSync(placed(c), c.content());
  fs.writeFileSync(path.join(all, 'nothing.jsonl'), '');
  fs.writeFileSync(path.join(all, 'odd.jsonl'), odd);
  fs.writeFileSync(path.join(dir, 'plain.jsonl'), plain);
});

/** Files that fail the --on-error skip run are kept out of `all`. */
const placed = (c: Case) => path.join(c.skipped === null ? dir : all, c.name);

function expectOneLineError(r: { code: number | null; stderr: string; out: string }, where: string) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  const stderr = r.stderr.trim().split('\n');
  expect(stderr, r.stderr).toHaveLength(1);
  expect(stderr[0].startsWith(`meap: error: ${where}`), stderr[0]).toBe(true);
  expect(fs.existsSync(path.join(r.out, 'manifest.json'))).toBe(false);
}

describe('every hostile input fails the run with exit 2 and one line naming it', () => {
  for (const c of cases) {
    it(`${c.name} (${c.reason})`, () => {
      expectOneLineError(prepare([placed(c)]), c.where);
    });
  }

  it('a directory with no inputs', () => {
    const empty = path.join(dir, 'no-inputs');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'README.md'), 'not an input');
    const r = prepare([empty]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`directory "${empty}" holds no input files`);
  });
});

describe('--on-error skip', () => {
  it('reads every file, counts each hostile input under its reason, and keeps the good records', () => {
    const r = prepare([all], '--on-error', 'skip', '--mask', 'none');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const { manifest } = readShards(r.out);
    const expected: Record<string, number> = {};
    for (const c of cases) for (const [k, v] of Object.entries(c.skipped ?? {})) expected[k] = (expected[k] ?? 0) + v;
    expect(manifest.totals.skipped).toEqual(expected);
    for (const c of cases) {
      if (c.skipped !== null) expect(manifest.inputs.find((i) => i.path === c.name)?.skipped, c.name).toEqual(c.skipped);
    }
    const docs = Object.fromEntries(manifest.inputs.map((i) => [i.path, 'documents' in i ? i.documents : -1]));
    expect(docs).toMatchObject({ 'invalid.jsonl': 1, 'deep.jsonl': 1, 'deep.json': 1, 'odd.jsonl': 3, 'nothing.jsonl': 0, 'big.jsonl': 0 });
  });

  it('fails on a file none of whose records is good: the wrong file, not a few bad records', () => {
    for (const c of cases.filter((x) => x.skipped === null)) {
      expectOneLineError(prepare([placed(c)], '--on-error', 'skip'), `${c.name}: every record failed (`);
    }
  });
});

describe('valid input in odd forms', () => {
  it('a BOM, CRLFs, escaped NULs, a lone surrogate and a bad byte give the rows of the same text written plainly', () => {
    const a = prepare([path.join(all, 'odd.jsonl')], '--mask', 'none');
    const b = prepare([path.join(dir, 'plain.jsonl')], '--mask', 'none');
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const rows = (out: string) => readShards(out).rows.map((x) => Array.from(x.labels));
    expect(readShards(a.out).manifest.totals).toMatchObject({ documents: 3 });
    expect(rows(a.out)).toEqual(rows(b.out));
  });
});

describe('--max-doc-chars', () => {
  const doc = path.join(dir, 'hundred.jsonl');
  beforeAll(() => fs.writeFileSync(doc, lines(JSON.stringify({ text: 'short' }), JSON.stringify({ text: 'é'.repeat(100) }))));

  it('pretrain: a longer document fails, or is skipped as tooLong; one at the limit is kept', () => {
    expectOneLineError(prepare([doc], '--max-doc-chars', '99'), 'hundred.jsonl:2: field "text" has 100 characters, more than the limit of 99');
    const skip = prepare([doc], '--max-doc-chars', '99', '--on-error', 'skip');
    expect(skip.code, skip.stderr).toBe(0);
    expect(readShards(skip.out).manifest.totals).toMatchObject({ documents: 1, skipped: { tooLong: 1 } });
    const keep = prepare([doc], '--max-doc-chars', '100');
    expect(keep.code, keep.stderr).toBe(0);
    expect(readShards(keep.out).manifest.totals).toMatchObject({ documents: 2, skipped: {} });
  });

  it('sft: a record with any text field over the limit fails, or is skipped as tooLong', () => {
    const alpaca = path.join(fixtures, 'alpaca/alpaca_head128.jsonl');
    const records = readJsonl(alpaca) as Record<string, string>[];
    const limit = 200;
    const over = records.map((r, i) => [i + 1, [r.instruction, r.input, r.output].some((s) => [...s].length > limit)] as const).filter(([, o]) => o);
    expect(over.length).toBeGreaterThan(0);
    const sft = ['--mode', 'sft', '--max-doc-chars', String(limit)];
    const fail = prepare([alpaca], ...sft);
    expectOneLineError(fail, `alpaca_head128.jsonl:${over[0][0]}: field "`);
    expect(fail.stderr).toContain(`more than the limit of ${limit}`);
    const skip = prepare([alpaca], ...sft, '--on-error', 'skip');
    expect(skip.code, skip.stderr).toBe(0);
    expect(readShards(skip.out).manifest.totals.skipped).toMatchObject({ tooLong: over.length });
  });
});
