/**
 * Crash safety and scale-out through the real CLI: SIGKILL at random points then rerun gives the
 * bytes of an uninterrupted run; partitions + merge give the bytes of a single process (shards,
 * manifest and the Hugging Face files alike); reruns
 * with other settings are refused, the same command on a finished directory is a no-op.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2, fixtures, meap, repoRoot, slimpajama, tempDir, treeDigest } from '../helpers/cli.ts';

let inputs: string;
const args = (out: string, extra: string[] = []) => ['prepare', inputs, '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--shard-rows', '4', '--seq-len', '1024', ...extra];

beforeAll(() => {
  // Six units of work from the real fixtures, so kills land between and inside units.
  inputs = tempDir('meap-inputs-');
  const sources = [slimpajama('chunk_0.jsonl'), slimpajama('chunk_1.jsonl'), slimpajama('chunk_0.jsonl.zst'), slimpajama('chunk_1.jsonl.zst'), path.join(fixtures, 'redpajama/arxiv20.jsonl')];
  sources.forEach((src, i) => fs.copyFileSync(src, path.join(inputs, `${i}-${path.basename(src)}`)));
  fs.copyFileSync(slimpajama('chunk_0.jsonl'), path.join(inputs, '5-again.jsonl'));
});

function reference(): Record<string, string> {
  const out = path.join(tempDir(), 'ref');
  const r = meap(args(out));
  expect(r.code, r.stderr).toBe(0);
  const digest = treeDigest(out);
  // The Hugging Face files are compared with the shards and the manifest wherever this digest is.
  expect(Object.keys(digest)).toEqual(expect.arrayContaining(['manifest.json', 'dataset_info.json', 'state.json']));
  return digest;
}

describe('crash safety', () => {
  it('a run SIGKILLed at random moments, then rerun, ends byte-identical to an uninterrupted one', async () => {
    const expected = reference();
    // Deterministic "random" kill points, spread over the run.
    for (const delayMs of [700, 1500, 2600]) {
      const out = path.join(tempDir(), 'killed');
      const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args(out)], { stdio: 'ignore', env: { ...process.env, MEAP_CACHE: tempDir() } });
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const again = meap(args(out));
      expect(again.code, again.stderr).toBe(0);
      expect(treeDigest(out)).toEqual(expected);
      expect(fs.existsSync(path.join(out, '.meap'))).toBe(false);
    }
  });

  it('SIGINT stops with 130 and leaves a resumable directory', async () => {
    const out = path.join(tempDir(), 'int');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args(out)], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 2000));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(130);
    expect(meap(args(out)).code).toBe(0);
    expect(treeDigest(out)).toEqual(reference());
  });

  it('refuses other settings naming the difference, is a no-op on a finished directory, and --overwrite starts over', () => {
    const out = path.join(tempDir(), 'out');
    expect(meap(args(out)).code).toBe(0);
    const before = treeDigest(out);
    const same = meap([...args(out), '--workers', '1', '--engine', 'js']);
    expect(same.code, same.stderr).toBe(0);
    expect(treeDigest(out)).toEqual(before);
    const other = meap([...args(out), '--seed', '7']);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('seed');
    expect(meap([...args(out), '--seed', '7', '--overwrite']).code).toBe(0);
    expect(treeDigest(out)).not.toEqual(before);
  });

  it('refuses a second prepare of the same partition while the first runs', async () => {
    const out = path.join(tempDir(), 'busy');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args(out)], { stdio: 'ignore' });
    // Not a fixed wait: a warm start prepares these inputs in about a second, so wait for the lock itself.
    const lock = path.join(out, '.meap/locks/partition-0-of-1.lock');
    for (let waited = 0; !fs.existsSync(lock) && waited < 60_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    const second = meap(args(out));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/being prepared .* by process \d+/);
  });
});

/** A tiny tmpfs to fill up; needs root (as on this project's machines and CI); skipped elsewhere. */
function smallDisk(): string | null {
  const dir = tempDir('meap-smallfs-');
  return spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=300k', 'tmpfs', dir]).status === 0 ? dir : null;
}

describe('a full disk', () => {
  it('is a one-line error, exit 2, and the run resumes once there is space', (ctx) => {
    const disk = smallDisk();
    if (disk === null) ctx.skip();
    try {
      const out = path.join(disk!, 'out');
      const full = meap(args(out));
      expect(full.code).toBe(2);
      expect(full.stderr.trim().split('\n')).toHaveLength(1);
      expect(full.stderr).toContain('ENOSPC');
      expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
      expect(spawnSync('mount', ['-o', 'remount,size=64m', disk!]).status).toBe(0);
      const again = meap(args(out));
      expect(again.code, again.stderr).toBe(0);
      expect(treeDigest(out)).toEqual(reference());
    } finally {
      spawnSync('umount', [disk!]);
    }
  });
});

describe('partitions', () => {
  it('N = 1, 2 and 3 partitions sharing one directory, then merge, equal a single-process run', () => {
    const expected = reference();
    for (const n of [1, 2, 3]) {
      const out = path.join(tempDir(), `n${n}`);
      for (let i = n - 1; i >= 0; i--) {
        const r = meap([...args(out), '--num-partitions', String(n), '--partition', String(i)]);
        expect(r.code, r.stderr).toBe(0);
      }
      if (n > 1) {
        expect(fs.existsSync(path.join(out, 'manifest.json'))).toBe(false);
        const m = meap(['merge', out]);
        expect(m.code, m.stderr).toBe(0);
      }
      expect(treeDigest(out)).toEqual(expected);
    }
  });

  it('takes the partition from a Slurm job array or a Kubernetes Indexed Job', () => {
    const expected = reference();
    const slurm = path.join(tempDir(), 'slurm');
    for (const id of ['5', '6']) {
      expect(meap(args(slurm), { SLURM_ARRAY_TASK_ID: id, SLURM_ARRAY_TASK_MIN: '5', SLURM_ARRAY_TASK_COUNT: '2' }).code).toBe(0);
    }
    expect(meap(['merge', slurm]).code).toBe(0);
    expect(treeDigest(slurm)).toEqual(expected);

    const k8s = path.join(tempDir(), 'k8s');
    const early = meap(['merge', k8s]);
    expect(early.code).toBe(2);
    for (const index of ['0', '1', '2']) expect(meap([...args(k8s), '--num-partitions', '3'], { JOB_COMPLETION_INDEX: index }).code).toBe(0);
    const partial = path.join(tempDir(), 'partial');
    expect(meap([...args(partial), '--num-partitions', '3', '--partition', '1']).code).toBe(0);
    const notYet = meap(['merge', partial]);
    expect(notYet.code).toBe(2);
    expect(notYet.stderr).toContain('not finished');
    expect(meap(['merge', k8s]).code).toBe(0);
    expect(treeDigest(k8s)).toEqual(expected);
  });
});

describe('manifest paths', () => {
  it('verify, inspect and the trainer reject shard paths that are absolute or contain ..', () => {
    const out = path.join(tempDir(), 'out');
    expect(meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--tokenizer', gpt2, '--progress', 'none', '--limit', '5']).code).toBe(0);
    const file = path.join(out, 'manifest.json');
    const m = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const bad of ['/etc/passwd', '../x.arrow']) {
      m.shards[0].file = bad;
      fs.writeFileSync(file, JSON.stringify(m));
      for (const cmd of [['verify', out], ['inspect', out], ['train', '--data', out, '--out', path.join(tempDir(), 'r'), '--steps', '1']]) {
        const r = meap(cmd);
        expect(r.code, `${cmd[0]} ${bad}`).not.toBe(0);
        expect(r.stderr + r.stdout).toMatch(/relative path|leaves the directory|\.\./);
      }
    }
  });
});
