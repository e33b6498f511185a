import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { describeSkipped, detectFormat, resolveInputs } from '../../datasets/inputs.ts';
import { FIXTURES, tempDir } from './helpers.ts';

let tmp: string;

// U+FF21 (FULLWIDTH A) is EF BC A1 in UTF-8 and 0xFF21 in UTF-16; 😀 is F0 9F 98 80 and 0xD83D 0xDE00.
// UTF-16 order puts the emoji first, UTF-8 byte order puts Ａ first.
const FULLWIDTH = '\uFF21.jsonl';
const EMOJI = '\u{1F600}.jsonl';

beforeAll(async () => {
  tmp = await tempDir();
  const files = [
    'data/a/x.jsonl',
    'data/a/b/y.jsonl.zst',
    'data/a/b/z.parquet',
    'data/c/w.json',
    'data/c/notes.md',
    'data/.meap/cache.jsonl',
    'data/c/.hidden.jsonl',
    `data/u/${EMOJI}`,
    `data/u/${FULLWIDTH}`,
    'data/u/B.ndjson',
    'empty/readme.txt',
    'odd/data.txt',
  ];
  for (const f of files) {
    await fs.mkdir(path.dirname(path.join(tmp, f)), { recursive: true });
    await fs.writeFile(path.join(tmp, f), '{"text":"x"}\n');
  }
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const rels = (r: { files: { rel: string }[] }) => r.files.map((f) => f.rel);

describe('detectFormat', () => {
  it('maps extensions, longest first and case-insensitively', () => {
    expect(detectFormat('a/b.jsonl')).toBe('jsonl');
    expect(detectFormat('b.NDJSON')).toBe('jsonl');
    expect(detectFormat('b.jsonl.zst')).toBe('jsonl.zst');
    expect(detectFormat('b.ndjson.GZ')).toBe('jsonl.gz');
    expect(detectFormat('b.json.gz')).toBe('json.gz');
    expect(detectFormat('b.gz')).toBeUndefined();
    expect(detectFormat('b.json')).toBe('json');
    expect(detectFormat('b.parquet')).toBe('parquet');
    expect(detectFormat('b.zst')).toBeUndefined();
    expect(detectFormat('b.txt')).toBeUndefined();
    expect(detectFormat('.jsonl')).toBeUndefined();
  });
});

describe('resolveInputs', () => {
  it('searches a directory recursively, skipping hidden entries and unknown extensions', async () => {
    const r = await resolveInputs([path.join(tmp, 'data')]);
    expect(r.root).toBe(path.join(tmp, 'data'));
    expect(rels(r)).toEqual(['a/b/y.jsonl.zst', 'a/b/z.parquet', 'a/x.jsonl', 'c/w.json', 'u/B.ndjson', `u/${FULLWIDTH}`, `u/${EMOJI}`]);
    expect(r.files.map((f) => f.format)).toEqual(['jsonl.zst', 'parquet', 'jsonl', 'json', 'jsonl', 'jsonl', 'jsonl']);
    expect(r.files[0]).toEqual({
      abs: path.join(tmp, 'data/a/b/y.jsonl.zst'),
      rel: 'a/b/y.jsonl.zst',
      format: 'jsonl.zst',
      size: 13,
    });
  });

  it('sorts by UTF-8 bytes, not by JS (UTF-16) string order', async () => {
    const r = await resolveInputs([path.join(tmp, 'data/u')]);
    expect(rels(r)).toEqual(['B.ndjson', FULLWIDTH, EMOJI]);
    expect([FULLWIDTH, EMOJI].sort()).toEqual([EMOJI, FULLWIDTH]); // the order we must not produce
  });

  it('takes the deepest common directory as root, and dedupes', async () => {
    const a = path.join(tmp, 'data/a/x.jsonl');
    const b = path.join(tmp, 'data/a/b/z.parquet');
    const r = await resolveInputs([b, a, a, path.join(tmp, 'data/a/b')]);
    expect(r.root).toBe(path.join(tmp, 'data/a'));
    expect(rels(r)).toEqual(['b/y.jsonl.zst', 'b/z.parquet', 'x.jsonl']);
  });

  it('uses the file directory as root for a single file, and accepts relative specs', async () => {
    const abs = path.join(tmp, 'data/c/w.json');
    const r = await resolveInputs([path.relative(process.cwd(), abs)]);
    expect(r).toEqual({ root: path.join(tmp, 'data/c'), files: [{ abs, rel: 'w.json', format: 'json', size: 13 }], skipped: [] });
  });

  it('expands globs: *, ?, ** and {a,b}', async () => {
    const d = path.join(tmp, 'data');
    expect(rels(await resolveInputs([`${d}/**/*.jsonl`]))).toEqual(['a/x.jsonl', `u/${FULLWIDTH}`, `u/${EMOJI}`]);
    expect(rels(await resolveInputs([`${d}/{a,c}/*.json{l,}`]))).toEqual(['a/x.jsonl', 'c/w.json']);
    // A glob that matches a directory takes that directory's files, as a directory spec would.
    expect(rels(await resolveInputs([`${d}/{a,c}/*`]))).toEqual(['a/b/y.jsonl.zst', 'a/b/z.parquet', 'a/x.jsonl', 'c/w.json']);
    expect(rels(await resolveInputs([`${d}/a/b/?.*`]))).toEqual(['y.jsonl.zst', 'z.parquet']);
    expect(rels(await resolveInputs([`${d}/**`]))).toHaveLength(7);
    const r = await resolveInputs([`${d}/*/b/*.parquet`, `${d}/c/*.json`]);
    expect(r.root).toBe(d);
    expect(rels(r)).toEqual(['a/b/z.parquet', 'c/w.json']);
  });

  it('does not let a wildcard match hidden entries unless the pattern spells the dot', async () => {
    const d = path.join(tmp, 'data');
    expect(rels(await resolveInputs([`${d}/*/*.jsonl`]))).toEqual(['a/x.jsonl', `u/${FULLWIDTH}`, `u/${EMOJI}`]);
    expect(rels(await resolveInputs([`${d}/c/.*.jsonl`]))).toEqual(['.hidden.jsonl']);
  });

  it('with --format takes every regular file of a directory and any extension', async () => {
    const r = await resolveInputs([path.join(tmp, 'odd')], { format: 'jsonl' });
    expect(r.files).toMatchObject([{ rel: 'data.txt', format: 'jsonl' }]);
    const all = await resolveInputs([path.join(tmp, 'data/c')], { format: 'json' });
    expect(all.files.map((f) => [f.rel, f.format])).toEqual([
      ['notes.md', 'json'],
      ['w.json', 'json'],
    ]);
  });

  it('finds the real fixtures, and takes a file and its compressed copy only when each is named', async () => {
    const r = await resolveInputs([path.join(FIXTURES, 'slimpajama/*.jsonl.zst')]);
    expect(r.root).toBe(path.join(FIXTURES, 'slimpajama'));
    expect(rels(r)).toEqual(['chunk_0.jsonl.zst', 'chunk_1.jsonl.zst']);
    const named = ['chunk_0.jsonl', 'chunk_0.jsonl.zst'].map((f) => path.join(FIXTURES, 'slimpajama', f));
    expect(rels(await resolveInputs(named))).toEqual(['chunk_0.jsonl', 'chunk_0.jsonl.zst']);
    await fails([path.join(FIXTURES, 'slimpajama/*.jsonl{,.zst}')], /^"chunk_0\.jsonl" and "chunk_0\.jsonl\.zst" differ only by compression, .* \(remove one of them, or name each file as an argument to read both\)$/);
    await fails([path.join(FIXTURES, 'slimpajama'), named[0]], /"chunk_0\.jsonl" and "chunk_0\.jsonl\.zst" differ only by compression/);
  });

  it('returns the files that directories and globs left out for their extension, with their sizes; hidden ones are not among them', async () => {
    const d = await resolveInputs([path.join(tmp, 'data')]);
    expect(d.skipped).toEqual([{ file: path.join(tmp, 'data/c/notes.md'), size: 13, reason: 'noInputExtension' }]);
    expect(describeSkipped(d.skipped)).toBe('skipped 1 file with no input extension: .md (pass --format to read them)');
    expect((await resolveInputs([path.join(tmp, 'data')], { format: 'jsonl' })).skipped).toEqual([]);
    const more = [...d.skipped, ...['x.TXT', 'y.csv.gz', 'LICENSE'].map((f) => ({ file: f, size: 1, reason: 'noInputExtension' as const }))];
    expect(describeSkipped(more)).toBe('skipped 4 files with no input extension: .csv.gz, .md, .txt, no extension (pass --format to read them)');
    expect(describeSkipped([{ file: 'out/manifest.json', size: 1, reason: 'insideOutput' }])).toBeNull();
  });

  async function fails(specs: string[], pattern: RegExp, format?: 'jsonl') {
    const err = await resolveInputs(specs, { format }).catch((e) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect(['input', 'usage']).toContain(err.kind);
    expect(err.exitCode).toBe(2);
    expect(err.message).toMatch(pattern);
  }

  it('fails, naming the spec, for a missing path, an empty directory, a glob matching nothing, an unknown extension', async () => {
    await fails([path.join(tmp, 'nope.jsonl')], /nope\.jsonl" does not exist/);
    await fails([path.join(tmp, 'empty')], /empty" holds no input files.*--format/);
    await fails([path.join(tmp, 'data/**/*.csv')], /\*\*\/\*\.csv" matches no input files/);
    await fails([path.join(tmp, 'odd/*')], /odd\/\*" matches no input files \(it matched 1 file/);
    await fails([path.join(tmp, 'odd/data.txt')], /cannot tell the format of ".*data\.txt".*--format/);
    await fails([], /no inputs/);
  });
});
