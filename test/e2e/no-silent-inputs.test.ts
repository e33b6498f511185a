/**
 * Issue 20, what `meap prepare` reads and whether it wrote anything: runs that used to exit 0 with
 * something other than what was asked for (inputs read twice, files left out without a word, no
 * rows at all, an --exclude-set that matched nothing) now say so, and a gzip input is read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { decompress } from 'fzstd';
import { describe, expect, it } from 'vitest';
import { gpt2, meap, readJsonl, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

const LIMIT = 20;
const run = (inputs: string[], out: string, ...extra: string[]) =>
  meap(['prepare', ...inputs, '-o', out, '-t', gpt2, '--seq-len', '128', '--progress', 'none', '--workers', '1', ...extra]);

/** The one stderr line of a refused run: exit 2, no manifest. */
function refused(r: ReturnType<typeof meap>, out: string): string {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
  return lines[0];
}

const lines = (...records: unknown[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');

describe('inputs that differ only by compression', () => {
  it('a directory holding chunk_0.jsonl and chunk_0.jsonl.zst is refused, naming both; named one by one, both are read', () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    fs.mkdirSync(data);
    for (const f of ['chunk_0.jsonl', 'chunk_0.jsonl.zst']) fs.symlinkSync(slimpajama(f), path.join(data, f));
    const out = path.join(dir, 'out');
    expect(refused(run([data], out, '--limit', '3'), out)).toBe(
      'meap: error: "chunk_0.jsonl" and "chunk_0.jsonl.zst" differ only by compression, so the same records would be read twice (remove one of them, or name each file as an argument to read both)',
    );
    const glob = run([path.join(data, 'chunk_0.*')], out, '--limit', '3');
    expect(glob.stderr).toContain('differ only by compression');
    const named = run([path.join(data, 'chunk_0.jsonl'), path.join(data, 'chunk_0.jsonl.zst')], out, '--limit', '3');
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toMatch(/inputs {5}2 files, 6 documents/);
  });
});

describe('files left out for their extension', () => {
  it('are counted in one line with their extensions; hidden entries stay silent', () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    fs.mkdirSync(path.join(data, '.git'), { recursive: true });
    fs.symlinkSync(slimpajama('chunk_0.jsonl.zst'), path.join(data, 'chunk_0.jsonl.zst'));
    fs.writeFileSync(path.join(data, 'README.md'), 'about the data\n');
    fs.writeFileSync(path.join(data, 'notes.txt'), 'notes\n');
    fs.writeFileSync(path.join(data, '.git', 'config'), '[core]\n');
    fs.writeFileSync(path.join(data, '.hidden.csv'), 'a,b\n');
    const out = path.join(data, 'out');
    const r = run([data], out, '--limit', '3');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('meap: skipped 2 files with no input extension: .md, .txt (pass --format to read them)\n');
    // The shards and manifest of the earlier run, now among the inputs, are neither read nor reported.
    const again = run([data], out, '--limit', '3', '--overwrite');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe(r.stderr);
  });
});

describe('gzip inputs', () => {
  it('a gzipped SlimPajama chunk gives the rows of its .jsonl.zst', () => {
    const dir = tempDir();
    const gz = path.join(dir, 'chunk_0.jsonl.gz');
    fs.writeFileSync(gz, gzipSync(decompress(fs.readFileSync(slimpajama('chunk_0.jsonl.zst')))));
    const outs = { zst: path.join(dir, 'zst'), gz: path.join(dir, 'gz') };
    for (const [name, input] of [['zst', slimpajama('chunk_0.jsonl.zst')], ['gz', gz]] as const) {
      const r = run([input], outs[name], '--limit', '60', '--mask', 'none');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    }
    const zst = readShards(outs.zst);
    const gzip = readShards(outs.gz);
    expect(gzip.manifest.inputs.map((i) => i.path)).toEqual(['chunk_0.jsonl.gz']);
    expect(gzip.manifest.totals).toEqual(zst.manifest.totals);
    expect(gzip.manifest.totals).toMatchObject({ documents: 60 });
    // Shards hold only rows: without masks (whose seed is the file's sha256) they are the same bytes.
    expect(gzip.manifest.shards.map((s) => s.sha256)).toEqual(zst.manifest.shards.map((s) => s.sha256));
    expect(gzip.rows.map((r) => Array.from(r.inputIds))).toEqual(zst.rows.map((r) => Array.from(r.inputIds)));
  });

  it('a truncated gzip is a one-line input error, or a counted truncatedFile under --on-error skip', () => {
    const dir = tempDir();
    const gz = gzipSync(fs.readFileSync(slimpajama('chunk_0.jsonl')));
    fs.writeFileSync(path.join(dir, 'cut.jsonl.gz'), gz.subarray(0, 100_000));
    const out = path.join(dir, 'out');
    expect(refused(run([path.join(dir, 'cut.jsonl.gz')], out), out)).toBe(
      'meap: error: cut.jsonl.gz: gzip stream ends before its last member is complete (the file was probably cut short while downloading or copying) (or pass --on-error skip to skip and count such records)',
    );
    const skip = run([path.join(dir, 'cut.jsonl.gz')], out, '--on-error', 'skip');
    expect(skip.code, skip.stderr).toBe(0);
    expect(readShards(out).manifest.totals.skipped).toEqual({ truncatedFile: 1 });
  });
});

describe('a run that writes no rows', () => {
  it('an empty input exits 2 saying so, keeps nothing, and the rerun after the fix needs no --overwrite', () => {
    const dir = tempDir();
    const input = path.join(dir, 'empty.jsonl');
    fs.writeFileSync(input, '');
    const out = path.join(dir, 'out');
    expect(refused(run([input], out), out)).toBe(
      `meap: error: ${out}: no rows written: the input holds no record (fix the inputs or the options and rerun: nothing of this run was kept)`,
    );
    expect(fs.readdirSync(out)).toEqual([]);
    fs.writeFileSync(input, lines({ text: 'hello world' }));
    const fixed = run([input], out);
    expect(fixed.code, fixed.stderr).toBe(0);
  });

  it('records that are all skipped by filters (empty texts, excluded sets) exit 2 with the counts', () => {
    const dir = tempDir();
    const input = path.join(dir, 'filtered.jsonl');
    fs.writeFileSync(input, lines({ text: '' }, { text: 'code', meta: { redpajama_set_name: 'RedPajamaGithub' } }, { text: '' }));
    const out = path.join(dir, 'out');
    expect(refused(run([input], out, '--exclude-set', 'RedPajamaGithub'), out)).toBe(
      `meap: error: ${out}: no rows written: none of the 3 records read was kept (emptyText 2, excludedSet 1) (fix the inputs or the options and rerun: nothing of this run was kept)`,
    );
  });

  it('a gzip file read as --format jsonl names its compression, and the hint is not --on-error skip, which would not help', () => {
    const dir = tempDir();
    const gz = path.join(dir, 'chunk.jsonl.gz');
    fs.writeFileSync(gz, gzipSync(fs.readFileSync(slimpajama('chunk_0.jsonl'))));
    const expected = 'meap: error: chunk.jsonl.gz: this file is gzip-compressed, not plain JSON Lines (drop --format, or pass --format jsonl.gz)';
    for (const extra of [[], ['--on-error', 'skip']]) {
      const out = path.join(dir, `out${extra.length}`);
      expect(refused(run([gz], out, '--format', 'jsonl', ...extra), out)).toBe(expected);
    }
    const misnamed = path.join(dir, 'misnamed.jsonl');
    fs.copyFileSync(gz, misnamed);
    expect(run([misnamed], path.join(dir, 'out')).stderr).toContain('misnamed.jsonl: this file is gzip-compressed, not plain JSON Lines (name it .jsonl.gz, or pass --format jsonl.gz)');
  });

  it('under --on-error skip, a file whose every record failed is a file error, even beside good files', () => {
    const dir = tempDir();
    const wrong = path.join(dir, 'wrong-field.jsonl');
    fs.writeFileSync(wrong, lines({ content: 'a' }, { content: 'b' }, 'not an object'));
    const good = path.join(dir, 'good.jsonl');
    fs.writeFileSync(good, lines({ text: 'fine' }, { content: 'one bad record among good ones' }, { text: 'also fine' }));
    const out = path.join(dir, 'out');
    const line = refused(run([good, wrong], out, '--on-error', 'skip'), out);
    expect(line).toBe(
      "meap: error: wrong-field.jsonl: every record failed (3 records: missingText 2, notAnObject 1) (check the file's format and --text-field; --on-error fail names the first bad record and why)",
    );
    expect(line).not.toContain('--on-error skip');
    const fixed = run([good], out, '--on-error', 'skip');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(readShards(out).manifest.totals).toMatchObject({ documents: 2, skipped: { missingText: 1 } });
  });

  it('a partition may write nothing; merge refuses a directory with no row at all, and the rerun needs no --overwrite', () => {
    const dir = tempDir();
    const [a, b] = ['a.jsonl', 'b.jsonl'].map((f) => path.join(dir, f));
    fs.writeFileSync(a, '');
    fs.writeFileSync(b, '');
    const out = path.join(dir, 'out');
    const partitions = () => {
      for (const i of ['0', '1']) {
        const r = run([a, b], out, '--num-partitions', '2', '--partition', i);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain(`partition ${i} of 2 done`);
      }
      return meap(['merge', out]);
    };
    expect(refused(partitions(), out)).toBe(`meap: error: ${out}: no rows written: none of the 2 inputs holds a record (fix the inputs or the options and rerun: nothing of this run was kept)`);
    expect(fs.readdirSync(out)).toEqual([]);
    fs.writeFileSync(b, lines({ text: 'now there is a document' }));
    const merged = partitions();
    expect(merged.code, merged.stderr).toBe(0);
    expect(readShards(out).manifest.inputs.map((i) => [i.path, i.records])).toEqual([
      ['a.jsonl', 0],
      ['b.jsonl', 1],
    ]);
  });
});

describe('an --exclude-set that matches no record', () => {
  /** The sets of the first LIMIT records of each input, as the error lists them. */
  const setsOf = (...inputs: string[]) =>
    [...new Set(inputs.flatMap((f) => readJsonl(f).slice(0, LIMIT).map((r) => (r.meta as { redpajama_set_name: string }).redpajama_set_name)))].sort().join(', ');

  it('is an error naming the set and the sets seen; the corrected command needs no --overwrite', () => {
    const dir = tempDir();
    const out = path.join(dir, 'out');
    const input = slimpajama('chunk_0.jsonl');
    expect(refused(run([input], out, '--limit', String(LIMIT), '--exclude-set', 'RedPajamaGitHub'), out)).toBe(
      `meap: error: --exclude-set RedPajamaGitHub matched no record; sets seen: ${setsOf(input)} (names are case-sensitive; --limit ${LIMIT} read only the first records of each input)`,
    );
    expect(fs.readdirSync(out)).toEqual([]);
    const fixed = run([input], out, '--limit', String(LIMIT), '--exclude-set', 'RedPajamaGithub');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(readShards(out).manifest.totals.skipped).toEqual({ excludedSet: 1 });
  });

  it('is checked over every input, those of a resumed run and of partitions merged included', () => {
    const dir = tempDir();
    const inputs = [slimpajama('chunk_0.jsonl'), slimpajama('chunk_1.jsonl')];
    const out = path.join(dir, 'out');
    const prepare = (sets: string[], ...extra: string[]) => {
      const r = run(inputs, out, '--limit', String(LIMIT), ...sets.flatMap((s) => ['--exclude-set', s]), ...extra);
      expect(r.code, r.stderr).toBe(0);
    };
    // Among the first records, RedPajamaArXiv is only in chunk_0 and RedPajamaBook only in chunk_1.
    const sets = ['RedPajamaArXiv', 'RedPajamaBook', 'redpajamac4'];
    prepare(sets, '--num-partitions', '2', '--partition', '0');
    // The whole run resumes: chunk_0 is done, and its record alone says that it held RedPajamaArXiv.
    expect(refused(run(inputs, out, '--limit', String(LIMIT), ...sets.flatMap((s) => ['--exclude-set', s])), out)).toBe(
      `meap: error: --exclude-set redpajamac4 matched no record; sets seen: ${setsOf(...inputs)} (names are case-sensitive; --limit ${LIMIT} read only the first records of each input)`,
    );
    expect(fs.readdirSync(out)).toEqual([]);
    const fixed = ['RedPajamaArXiv', 'RedPajamaBook', 'RedPajamaC4'];
    for (const i of ['0', '1']) prepare(fixed, '--num-partitions', '2', '--partition', i);
    const merged = meap(['merge', out]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(readShards(out).manifest).toMatchObject({ document: { excludeSets: fixed }, totals: { skipped: { excludedSet: 8 } } });
  });
});
