/**
 * Errors that were not the user's fault, or not clear (issue 20, points 6 and 9): a path the OS
 * refuses is the user's to fix (exit 2, the path, what failed, what to do), never "internal error";
 * commander's parse errors, hub ids and DNS failures, inspect's row options, verify's damaged
 * manifest, `-o FILE` and a partition without its count each get one line that says what to do.
 *
 * Permissions do not stop root, so where the tests run as root the refused runs are a service
 * user's (uid 65534, nobody, whose HOME is the missing /nonexistent), as in a container; /sys refuses
 * everyone (EPERM for root, EACCES otherwise, EROFS where it is mounted read-only).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.ts';
import { gpt2, meap, meapAsync, repoRoot, slimpajama, tempDir } from '../helpers/cli.ts';

const web = path.join(repoRoot, 'samples/tiny-corpus/web.jsonl');
// Threads load their code from the cache (core/worker-entry.ts); one worker runs in process, and needs none.
// A run gets a thread per megabyte of input at most (pipeline/run.ts), so these runs add one of 1.6 MB.
const threaded = [slimpajama('chunk_0.jsonl'), '--limit', '40', '--workers', '2'];
const prepareArgs = (out: string, ...extra: string[]) => ['prepare', web, '-t', gpt2, '-o', out, '--seq-len', '64', '--progress', 'none', ...extra];

const asRoot = process.getuid?.() === 0;
/** The CLI as a user whom permissions stop: nobody where the tests run as root, else the user running them. */
function meapAsUser(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
// A checkout that nobody cannot read (under /root, say) cannot run these; everything else still does.
const userRuns = meapAsUser(['--version'], {}).code === 0;
/** A directory the user may enter and read but not write. */
function readOnlyDir(): string {
  const dir = tempDir('meap-ro-');
  fs.chmodSync(dir, 0o555);
  return dir;
}
/** A directory anyone may write, for the user's --out. */
function openDir(): string {
  const dir = tempDir('meap-open-');
  fs.chmodSync(dir, 0o777);
  return dir;
}
const sysRefusal = /(operation not permitted \(EPERM\)|permission denied \(EACCES\)|read-only file system \(EROFS\))/;

/** A small finished directory, for the commands that read one. */
const prepared = path.join(tempDir(), 'prepared');
beforeAll(() => {
  const r = meap(prepareArgs(prepared));
  expect(r.code, r.stderr).toBe(0);
});

describe('paths the OS refuses are the user to fix, not meap bugs', () => {
  it.skipIf(!userRuns)('--out in a directory the user may not write: exit 2, the path and "choose a writable --out"', () => {
    const out = path.join(readOnlyDir(), 'out');
    const r = meapAsUser(prepareArgs(out), { MEAP_CACHE: openDir() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(`meap: error: ${out}: cannot create the directory: permission denied (EACCES) (choose a writable --out)\n`);
  });

  it.skipIf(!fs.existsSync('/sys/kernel'))('--out where even root may not write (EPERM): exit 2, for prepare and for any other command', () => {
    const r = meap(prepareArgs('/sys/meap-out'));
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^meap: error: /sys/meap-out: cannot create the directory: ${sysRefusal.source} \\(choose a writable --out\\)\\n$`));
    // train's --out has no words of its own: the general ones still name the path and what to do. Train
    // makes its directory once the backend has started (a run that cannot start leaves nothing), so the
    // backend's line comes first.
    const t = meap(['train', '--data', prepared, '--out', '/sys/meap-run', '--steps', '1', '--backend', 'wasm']);
    expect(t.code, t.stderr).toBe(2);
    expect(t.stderr).toMatch(new RegExp(`^(meap train: backend wasm .*\\n)?meap: error: /sys/meap-run: cannot create the directory: ${sysRefusal.source} \\(check its permissions, or choose a path you can write\\)\\n$`));
  });

  // A read-only root file system (a container's readOnlyRootFilesystem), as a read-only bind mount in a mount namespace of its own.
  const canMount = asRoot && spawnSync('unshare', ['-m', 'true']).status === 0;
  it.skipIf(!canMount)('--out and the cache on a read-only file system: EROFS, not the ENOENT of recursive mkdir', () => {
    const ro = tempDir('meap-rofs-');
    const cli = `${process.execPath} ${path.join(repoRoot, 'bin/meap.js')}`;
    const prep = (out: string) => prepareArgs(out, ...threaded).join(' ');
    const script = [
      `mount --bind ${ro} ${ro} && mount -o remount,ro,bind ${ro}`,
      `MEAP_CACHE=${tempDir()} ${cli} ${prep(path.join(ro, 'out'))}; echo "exit $?"`,
      `HOME=${ro} MEAP_CACHE= ${cli} ${prep(path.join(tempDir(), 'out'))}; echo "exit $?"`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.stdout).toBe('exit 2\nexit 2\n');
    expect(r.stderr).toBe(
      `meap: error: ${ro}/out: cannot create the directory: read-only file system (EROFS) (choose a writable --out)\n` +
        `meap: error: ${ro}/.cache: cannot create the directory: read-only file system (EROFS) (meap's cache is ~/.cache/meap under HOME=${ro}: set MEAP_CACHE to a writable directory)\n`,
    );
  });

  it.skipIf(!userRuns)('a service user whose HOME does not exist, without MEAP_CACHE: exit 2 naming the cache and MEAP_CACHE', () => {
    const out = path.join(openDir(), 'out');
    const r = meapAsUser(prepareArgs(out, ...threaded), { MEAP_CACHE: '', HOME: '/nonexistent' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^meap: error: \/nonexistent\S*: cannot create the directory: permission denied \(EACCES\) \(meap's cache is ~\/\.cache\/meap under HOME=\/nonexistent: set MEAP_CACHE to a writable directory\)\n$/);
    // Following the hint is enough.
    const fixed = meapAsUser(prepareArgs(out, ...threaded), { MEAP_CACHE: openDir(), HOME: '/nonexistent' });
    expect(fixed.code, fixed.stderr).toBe(0);
  });

  it('a cache under a file (HOME or MEAP_CACHE): exit 2 naming where the cache came from', () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    const byHome = meap(prepareArgs(path.join(tempDir(), 'out'), ...threaded), { MEAP_CACHE: '', HOME: file });
    expect(byHome.code, byHome.stderr).toBe(2);
    expect(byHome.stderr).toMatch(
      new RegExp(`^meap: error: ${file}/\\.cache/meap\\S*: cannot create the directory: a part of the path is a file, not a directory \\(ENOTDIR\\) \\(meap's cache is ~/\\.cache/meap under HOME=${file}: set MEAP_CACHE to a writable directory\\)\\n$`),
    );
    const byEnv = meap(prepareArgs(path.join(tempDir(), 'out'), ...threaded), { MEAP_CACHE: path.join(file, 'cache') });
    expect(byEnv.code, byEnv.stderr).toBe(2);
    expect(byEnv.stderr).toContain(`(meap's cache is MEAP_CACHE=${path.join(file, 'cache')}: set MEAP_CACHE to a writable directory)\n`);
  });

  describe('hub downloads', () => {
    let hub: FakeHub;
    beforeAll(async () => {
      hub = await startFakeHub([{ type: 'dataset', id: 'acme/tiny', sha: 'c'.repeat(40), files: [{ path: 'data/web.jsonl', data: fs.readFileSync(web), lfs: true }] }]);
    });
    afterAll(() => hub?.close());

    it('into a cache that cannot be written, or an --out under a file: exit 2 with what to do', async () => {
      const file = path.join(tempDir(), 'a-file');
      fs.writeFileSync(file, '');
      const cache = await meapAsync(['download', 'acme/tiny'], { HF_ENDPOINT: hub.endpoint, MEAP_CACHE: path.join(file, 'cache') });
      expect(cache.code, cache.stderr).toBe(2);
      expect(cache.stderr).toMatch(new RegExp(`\\nmeap: error: ${file}/cache/hub\\S*: cannot create the directory: .*\\(meap's cache is MEAP_CACHE=${file}/cache: set MEAP_CACHE to a writable directory\\)\\n$`));
      const out = await meapAsync(['download', 'acme/tiny', '--out', path.join(file, 'mirror')], { HF_ENDPOINT: hub.endpoint });
      expect(out.code, out.stderr).toBe(2);
      expect(out.stderr).toMatch(new RegExp(`\\nmeap: error: ${file}/mirror\\S*: cannot create the directory: a part of the path is a file, not a directory \\(ENOTDIR\\) \\(choose a writable --out\\)\\n$`));
    });
  });
});

describe('hub and parser errors say what to do, in one line', () => {
  it('a DNS failure is retried and gets the hint, as a refused connection does', async () => {
    const r = await meapAsync(['download', 'acme/slim', '--max-retries', '1'], { HF_ENDPOINT: 'http://nonexistent.invalid' });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^meap: hf:\/\/datasets\/acme\/slim@main: getaddrinfo (ENOTFOUND|EAI_AGAIN) nonexistent\.invalid; retrying in \d+ ms \(1\/1\)\n/);
    expect(r.stderr).toMatch(/meap: error: .*\(gave up after 2 attempts\) \(check the network or HF_ENDPOINT, then run again; finished files are kept\)\n$/);
  });

  it('meap download refuses an id that is not ORG/NAME, before any request', () => {
    for (const id of ['not/a/valid/repo', 'acme', 'hf://datasets/acme/slim']) {
      const r = meap(['download', id, '--max-retries', '0'], { HF_ENDPOINT: 'http://nonexistent.invalid' });
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`meap: error: "${id}" is not a repository id (expected ORG/NAME, e.g. cerebras/SlimPajama-627B; choose a revision with --revision and files with --include)\n`);
    }
  });

  it("commander's parse errors are meap's one line, naming the command's --help", () => {
    const cases: [string[], string][] = [
      [['prepare', web, '-t', gpt2, '-o', 'x', '--foo'], "unknown option '--foo' (run meap prepare --help for usage)"],
      [['prepare', web, '-t', gpt2, '-o', 'x', '--seq-le', '64'], "unknown option '--seq-le' (did you mean --seq-len?) (run meap prepare --help for usage)"],
      [['prepare', web, '-t', gpt2], "required option '-o, --out <dir>' not specified (run meap prepare --help for usage)"],
      [['inspect'], "missing required argument 'dir' (run meap inspect --help for usage)"],
      [['prepare', web, '-t', gpt2, '-o', 'x', '--mask', 'spans'], "option '--mask <strategy>' argument 'spans' is invalid. Allowed choices are random, span, none (run meap prepare --help for usage)"],
      [['frobnicate'], "unknown command 'frobnicate' (run meap --help for usage)"],
    ];
    for (const [args, message] of cases) {
      const r = meap(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toBe(`meap: error: ${message}\n`);
    }
  });

  describe('on a prepared directory', () => {
    const out = prepared;

    it('inspect names the row options as the user gave them', () => {
      const both = meap(['inspect', out, '--row', '3', '--rows', '1..2']);
      expect(both.code).toBe(2);
      expect(both.stderr).toBe('meap: error: --row and --rows exclude each other (give one of them)\n');
      const range = meap(['inspect', out, '--rows', '3000..']);
      expect(range.code).toBe(2);
      expect(range.stderr).toMatch(/^meap: error: --rows 3000\.\. is out of range: the directory holds \d+ rows \(0 to \d+\)\n$/);
      expect(meap(['inspect', out, '--rows', 'x']).stderr).toBe('meap: error: invalid option --rows: write A..B (rows A to B) or A.. (row A to the last)\n');
    });

    it('verify on a damaged manifest says what to do, not to run verify', () => {
      const damaged = path.join(tempDir(), 'damaged');
      fs.cpSync(out, damaged, { recursive: true });
      fs.writeFileSync(path.join(damaged, 'manifest.json'), fs.readFileSync(path.join(out, 'manifest.json'), 'utf8').slice(0, 100));
      const r = meap(['verify', damaged]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`meap: error: ${damaged}/manifest.json: the manifest is not valid JSON (prepare the directory again, or restore its manifest.json from a copy)\n`);
    });
  });

  it('-o naming a file says so, in words', () => {
    const file = path.join(tempDir(), 'shards');
    fs.writeFileSync(file, 'mine');
    const r = meap(prepareArgs(file));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`meap: error: ${file}: is a file, not a directory (choose a directory for --out)\n`);
    const under = meap(prepareArgs(path.join(file, 'out')));
    expect(under.code).toBe(2);
    expect(under.stderr).toBe(`meap: error: ${path.join(file, 'out')}: cannot read the directory: a part of the path is a file, not a directory (ENOTDIR) (choose a directory for --out)\n`);
    expect(fs.readFileSync(file, 'utf8')).toBe('mine');
  });

  it('--partition without --num-partitions names the missing count', () => {
    const r = meap(prepareArgs(path.join(tempDir(), 'out'), '--partition', '1'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('meap: error: --partition 1 needs --num-partitions: without it there is 1 partition (pass --num-partitions N, the number of partitions, with N > 1)\n');
  });
});
