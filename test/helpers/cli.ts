import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../core/hash.ts';
import { decodeShard } from '../../datasets/shards/codec.ts';
import { ManifestSchema } from '../../schemas/manifest.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const fixtures = path.resolve(repoRoot, '../shared/fixtures');
export const llama2 = path.join(fixtures, 'tokenizers/llama2/tokenizer.json');
export const gpt2 = path.join(fixtures, 'tokenizers/gpt2/tokenizer.json');
export const slimpajama = (name: string) => path.join(fixtures, 'slimpajama', name);

export function tempDir(prefix = 'meap-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs the real CLI in a child process, as a user would. */
export function meap(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, MEAP_CACHE: env.MEAP_CACHE ?? tempDir('meap-cache-'), ...env },
    maxBuffer: 64 << 20,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Like `meap`, without blocking this process: for tests that serve HTTP to the CLI themselves. */
export function meapAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args], {
    env: { ...process.env, MEAP_CACHE: env.MEAP_CACHE ?? tempDir('meap-cache-'), ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export function readJsonl(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** sha256 of every file in a directory tree, keyed by relative path. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** The manifest and every row of an output directory, in manifest order. */
export function readShards(dir: string) {
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')));
  const rows = manifest.shards.flatMap((s) => {
    const file = path.join(dir, s.file);
    const bytes = fs.readFileSync(file);
    const shard = decodeShard(bytes, file, { sha256Matched: sha256Hex(bytes) === s.sha256 });
    const take = (c: keyof typeof shard.columns, r: number) =>
      shard.columns[c].values.subarray(shard.columns[c].offsets[r], shard.columns[c].offsets[r + 1]);
    return Array.from({ length: shard.rows }, (_, r) => ({
      input: s.input,
      inputIds: take('input_ids', r),
      labels: take('labels', r),
      positions: take('position_ids', r),
    }));
  });
  return { manifest, rows };
}
