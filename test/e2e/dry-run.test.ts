/**
 * `meap prepare --dry-run` (issue 20): the files a run would read and skip with their sizes, the
 * masked share the settings give, and what --out would get, without reading a record or writing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { llama2, meap, repoRoot, tempDir } from '../helpers/cli.ts';

const corpus = path.join(repoRoot, 'samples/tiny-corpus');

/** The tiny corpus, a README beside it, and a file of broken records that only reading would find. */
function inputs(): string {
  const dir = path.join(tempDir(), 'data');
  fs.cpSync(corpus, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'README.md'), '# notes\n');
  fs.writeFileSync(path.join(dir, 'zz-broken.jsonl'), '{"text": "never closed\n');
  return dir;
}

describe('prepare --dry-run', () => {
  it('lists the files read and skipped with sizes and the masked share, reads no record and writes nothing', () => {
    const data = inputs();
    const out = path.join(path.dirname(data), 'out');
    const r = meap(['prepare', data, '-t', llama2, '-o', out, '--seq-len', '512', '--mask', 'span', '--span-length', '50', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(out)).toBe(false);
    const read = fs.readdirSync(data).filter((f) => f !== 'README.md').sort();
    expect(r.stdout).toContain(`inputs     ${read.length} files`);
    for (const f of read) expect(r.stdout).toMatch(new RegExp(`\\d(\\.\\d)? k?B  ${f.replace('.', '\\.')}  `));
    expect(r.stdout).toMatch(/skipped {4}1 file\n +8 B {2}.*README\.md: no input extension/);
    // 0.15 × 511 / 50 floors to one span: 50 of 511, and the run would warn.
    expect(r.stdout).toContain('a full 512-token row of one document gets 50 of its 511 eligible positions masked (9.78%): under 90% of --mask-ratio 0.15');
    expect(r.stdout).toContain('out        a new run');
  });

  it('says what --out would get: a finished run (its files marked done), the refusal (exit 2), or a replacement', () => {
    const data = inputs();
    fs.rmSync(path.join(data, 'zz-broken.jsonl'));
    const out = path.join(path.dirname(data), 'out');
    const args = ['prepare', data, '-t', llama2, '-o', out, '--seq-len', '128', '--progress', 'none'];
    expect(meap(args).code).toBe(0);
    const before = fs.readdirSync(out).sort();
    const again = meap([...args, '--dry-run']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('already complete with these settings: the run would do nothing');
    expect(again.stdout).toContain('(done: the run skips it)');
    const other = meap([...args, '--seq-len', '256', '--dry-run']);
    expect(other.code).toBe(2);
    expect(other.stdout).toMatch(/out {8}refused: .*the output directory was prepared differently: settings\.seqLen/);
    const overwrite = meap([...args, '--seq-len', '256', '--overwrite', '--dry-run']);
    expect(overwrite.code).toBe(0);
    expect(overwrite.stdout).toMatch(/a new run, replacing \d+ entries of the run there \(--overwrite\)/);
    expect(fs.readdirSync(out).sort()).toEqual(before);
  });

  it('lists one partition’s files, and fails as the run would on settings that cannot work', () => {
    const data = inputs();
    const out = path.join(path.dirname(data), 'out');
    const r = meap(['prepare', data, '-t', llama2, '-o', out, '--num-partitions', '2', '--partition', '1', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/inputs {5}2 files, .* \(partition 1 of 2; 5 files in all\)/);
    const span = meap(['prepare', data, '-t', llama2, '-o', out, '--mask', 'span', '--span-length', '50', '--seq-len', '128', '--dry-run']);
    expect(span.code).toBe(2);
    expect(span.stderr).toMatch(/^meap: error: --span-length 50 does not fit a 128-token row/);
  });
});
