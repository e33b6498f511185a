/**
 * A faster start (issue 21): the CLI runs from a bundle in $MEAP_CACHE/cli (cli/cli-bundle.ts) while no
 * source has changed, and never runs stale code after an edit. These runs use a copy of the sources,
 * so that a test may edit them.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2, repoRoot, tempDir } from '../helpers/cli.ts';

const DESCRIPTION = 'Reproducible MEAP-masked training shards from raw text corpora';
let copy: string;
let hook: string;

/** The copy's CLI; stderr says "tsx" where the run had to load tsx (a build), and nothing where it ran the bundle. */
function run(args: string[], cache: string) {
  const r = spawnSync(process.execPath, ['--import', hook, path.join(copy, 'bin/meap.js'), ...args], { encoding: 'utf8', env: { ...process.env, MEAP_CACHE: cache } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, tsx: r.stderr.includes('loads tsx') };
}

// The index vouches only for sources older than two seconds at the build (core/stamps.js).
const settle = () => new Promise((r) => setTimeout(r, 2100));

beforeAll(async () => {
  copy = tempDir('meap-copy-');
  for (const dir of ['bin', 'cli', 'core', 'pipeline', 'datasets', 'schemas', 'trainer']) fs.cpSync(path.join(repoRoot, dir), path.join(copy, dir), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json']) fs.copyFileSync(path.join(repoRoot, file), path.join(copy, file));
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(copy, 'node_modules'));
  hook = path.join(copy, 'hook.mjs');
  const resolve = 'export async function resolve(s, c, next) { if (s.startsWith("tsx")) process._rawDebug("loads tsx"); return next(s, c); }';
  fs.writeFileSync(hook, `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(resolve)}`)});\n`);
  await settle();
});

describe('fast start', () => {
  it('builds the bundle once, runs it without tsx after, and picks up an edit at the next start', async () => {
    const cache = tempDir('meap-cache-');
    const first = run(['--help'], cache);
    expect(first.code, first.stderr).toBe(0);
    expect(first.tsx).toBe(true);
    expect(first.stdout).toContain(DESCRIPTION);
    const second = run(['--help'], cache);
    expect(second.tsx).toBe(false);
    expect(second.stdout).toBe(first.stdout);

    const main = path.join(copy, 'cli/main.ts');
    fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace(DESCRIPTION, 'Edited a moment ago'));
    const edited = run(['--help'], cache);
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stdout).toContain('Edited a moment ago');
    expect(edited.tsx).toBe(true);
    // Built within two seconds of the edit: not vouched for, so built again, and then kept.
    await settle();
    expect(run(['--help'], cache).tsx).toBe(true);
    const kept = run(['--help'], cache);
    expect(kept.tsx).toBe(false);
    expect(kept.stdout).toContain('Edited a moment ago');
    fs.writeFileSync(main, fs.readFileSync(main, 'utf8').replace('Edited a moment ago', DESCRIPTION));
    await settle();
  });

  it('a damaged index or bundle is built again, not an error', () => {
    const cache = tempDir('meap-cache-');
    expect(run(['--version'], cache).code).toBe(0);
    const cli = path.join(cache, 'cli');
    const [index] = fs.readdirSync(cli).filter((f) => f.endsWith('.json'));
    fs.writeFileSync(path.join(cli, index), '{"inputs": [["');
    // Bundles of sources since edited: one left two days ago goes at the next build, a recent one stays.
    const [stale, recent] = ['0000000000000000', '1111111111111111'].map((d) => path.join(cli, d));
    for (const d of [stale, recent]) fs.mkdirSync(d);
    const past = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    fs.utimesSync(stale, past, past);
    const r = run(['--version'], cache);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(recent)).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    expect(r.tsx).toBe(true);
    expect(run(['--version'], cache).tsx).toBe(false);
    const { main } = JSON.parse(fs.readFileSync(path.join(cli, index), 'utf8')) as { main: string };
    fs.appendFileSync(main, '\nthrow new Error("damaged");\n');
    const again = run(['--version'], cache);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe('0.1.0\n');
  });

  it('runs the sources through tsx where the cache cannot be written', () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    const r = run(['--version'], path.join(file, 'cache'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('0.1.0\n');
  });

  it('a prepare from the bundle writes the bytes the sources write through tsx', () => {
    const dir = tempDir();
    const unwritable = path.join(dir, 'a-file');
    fs.writeFileSync(unwritable, '');
    // Under 1 MB of input: one thread, so the run needs no worker bundle and goes through with no cache.
    const args = (o: string) => ['prepare', path.join(repoRoot, 'samples/tiny-corpus'), '-t', gpt2, '-o', path.join(dir, o), '--seq-len', '128', '--progress', 'none'];
    const viaTsx = run(args('a'), path.join(unwritable, 'cache'));
    expect(viaTsx.code, viaTsx.stderr).toBe(0);
    expect(viaTsx.tsx).toBe(true);
    const cache = path.join(dir, 'cache');
    expect(run(['--version'], cache).code).toBe(0);
    const viaBundle = run(args('b'), cache);
    expect(viaBundle.code, viaBundle.stderr).toBe(0);
    expect(viaBundle.tsx).toBe(false);
    const files = fs.readdirSync(path.join(dir, 'a'));
    expect(files.length).toBeGreaterThan(2);
    for (const f of files) expect(fs.readFileSync(path.join(dir, 'b', f)).equals(fs.readFileSync(path.join(dir, 'a', f))), f).toBe(true);
  });
});
