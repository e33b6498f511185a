/**
 * Issue 20, "no silent surprises", through the real CLI: span settings that mask nothing are refused
 * before anything is read, a run that masks under 90% of --mask-ratio says so (summary and
 * manifest), an unfinished `prepare` is refused by inspect and verify with the command that
 * finishes it, `meap status` shows where such a directory stands, and two summary nits.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, gpt2, llama2, meap, repoRoot, slimpajama, tempDir } from '../helpers/cli.ts';

const BIN = path.join(repoRoot, 'bin/meap.js');
const alpaca = path.join(fixtures, 'alpaca/alpaca_head128.json');
const manifestOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

/** `meap ARGS` started from `cwd`, as a user in that directory would type it. */
function meapIn(cwd: string, args: string[], cache: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, MEAP_CACHE: cache } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A line meap printed for the user to paste, run by bash with `meap` standing for this checkout's CLI. */
function paste(line: string, cache: string) {
  const r = spawnSync('bash', ['-c', `meap() { '${process.execPath}' '${BIN}' "$@"; }; ${line}`], { encoding: 'utf8', env: { ...process.env, MEAP_CACHE: cache } });
  expect(r.status, `${line}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** The commands in backquotes in an error's hint. */
const quoted = (stderr: string) => [...stderr.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

describe('span masking that cannot mask what it is asked', () => {
  it('is refused before anything is read, naming the smallest --seq-len and the longest --span-length that work', () => {
    const out = path.join(tempDir(), 's50');
    // The input does not exist: the settings are refused first.
    const r = meap(['prepare', path.join(tempDir(), 'missing.jsonl.zst'), '-t', llama2, '-o', out, '--mask', 'span', '--span-length', '50', '--seq-len', '128']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'meap: error: --span-length 50 does not fit a 128-token row: at --mask-ratio 0.15 no row would get a single span, and nothing would be masked (pass --seq-len 335 or more, or --span-length 19 or less)\n',
    );
    expect(fs.existsSync(out)).toBe(false);
    const huge = meap(['prepare', slimpajama('chunk_0.jsonl.zst'), '-t', llama2, '-o', out, '--mask', 'span', '--span-length', '5000', '--seq-len', '256']);
    expect(huge.code).toBe(2);
    expect(huge.stderr).toContain('(pass --seq-len 33335 or more, or --span-length 38 or less)');
  });

  it('masking under 90% of --mask-ratio is said in the summary and the manifest, which verify and inspect accept', () => {
    const out = path.join(tempDir(), 's50-512');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl.zst'), '-t', llama2, '-o', out, '--mask', 'span', '--span-length', '50', '--seq-len', '512', '--limit', '40', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    const warning = /^ {2}warning {4}(masked 9\.\d\d% of the eligible positions, under 90% of --mask-ratio 0\.15 \(a full 512-token row gets 9\.78%; raise --seq-len or lower --span-length\))$/m;
    const line = warning.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    expect(manifestOf(out).warnings).toEqual([line![1]]);
    expect(meap(['verify', out]).code).toBe(0);
    expect(meap(['inspect', out, '--tokenizer', llama2]).stdout).toMatch(warning);
  });

  it('a run that masks what it asked says nothing, and its manifest has no warnings key', () => {
    const out = path.join(tempDir(), 'random');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl.zst'), '-t', llama2, '-o', out, '--seq-len', '128', '--limit', '20', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('warning');
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).not.toContain('warnings');
  });

  it("sft: the share counts the copies' answer tokens, and a run that duplicated nothing says so", () => {
    const dir = tempDir();
    const common = ['--mode', 'sft', '-t', llama2, '--seq-len', '512', '--limit', '20', '--progress', 'none'];
    const plain = meap(['prepare', alpaca, '-o', path.join(dir, 'concat'), ...common]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).not.toContain('warning');
    const none = meap(['prepare', alpaca, '-o', path.join(dir, 'none'), ...common, '--min-answer-tokens', '400']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('  warning    no answer has more than --min-answer-tokens 400 tokens: nothing was duplicated or masked (lower --min-answer-tokens)\n');
  });
});

describe('summaries', () => {
  it('the separate layout, which cannot fall back, prints no concat fallbacks', () => {
    const dir = tempDir();
    const common = ['--mode', 'sft', '-t', llama2, '--seq-len', '512', '--limit', '20', '--progress', 'none'];
    const concat = meap(['prepare', alpaca, '-o', path.join(dir, 'concat'), ...common]);
    expect(concat.stdout).toMatch(/truncated, \d+ concat fallbacks?\n/);
    const separate = meap(['prepare', alpaca, '-o', path.join(dir, 'separate'), ...common, '--sft-layout', 'separate']);
    expect(separate.code, separate.stderr).toBe(0);
    expect(separate.stdout).toMatch(/ \d+ truncated\n/);
    expect(separate.stdout).not.toContain('fallback');
  });
});

describe('an unfinished prepare', () => {
  it('is refused by inspect and verify with the command that finishes it, and that command finishes it', async () => {
    const cwd = tempDir();
    const cache = path.join(cwd, 'cache');
    fs.mkdirSync(path.join(cwd, 'in'));
    // Enough input files that a stop after the first leaves the rest undone.
    for (let i = 0; i < 8; i++) fs.copyFileSync(slimpajama('chunk_0.jsonl'), path.join(cwd, 'in', `${i}.jsonl`));
    const args = ['prepare', 'in', '-t', gpt2, '-o', 'my out', '--seq-len', '256', '--workers', '1', '--progress', 'none'];
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: 'ignore', env: { ...process.env, MEAP_CACHE: cache } });
    const done = path.join(cwd, 'my out', '.meap', 'done');
    const timer = setInterval(() => {
      if (fs.existsSync(done) && fs.readdirSync(done).some((f) => f.endsWith('.json'))) {
        clearInterval(timer);
        child.kill('SIGINT');
      }
    }, 50);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(timer);
    expect(code).toBe(130);

    const out = path.join(cwd, 'my out');
    const expected = `cd ${cwd} && meap prepare in -t ${gpt2} -o 'my out' --seq-len 256 --workers 1 --progress none`;
    for (const command of ['inspect', 'verify']) {
      const r = meap([command, out], { MEAP_CACHE: cache });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^meap: error: ${out}: the directory holds an unfinished \`meap prepare\`: [1-7] of 8 inputs done \\(finish it with \`[^\`]+\`\\)\\n$`));
      expect(quoted(r.stderr)).toEqual(['meap prepare', expected]);
    }
    paste(expected, cache);
    expect(meap(['verify', out]).stdout).toMatch(/: OK, /);
    expect(manifestOf(out).inputs).toHaveLength(8);
  });

  it('meap status shows inputs done and to do, partitions and their locks, the settings and the commands; exit 0', () => {
    const cwd = tempDir();
    const cache = path.join(cwd, 'cache');
    fs.mkdirSync(path.join(cwd, 'in'));
    for (const name of ['a', 'b', 'c']) fs.writeFileSync(path.join(cwd, 'in', `${name}.jsonl`), fs.readFileSync(slimpajama('chunk_0.jsonl'), 'utf8').split('\n').slice(0, 5).join('\n'));
    // The command's spellings that a rerun must not repeat: --overwrite, and the partition in either form.
    const first = meapIn(cwd, ['prepare', 'in', '-t', gpt2, '-o', 'out', '--seq-len', '64', '--progress', 'none', '--num-partitions=2', '--partition', '1', '--overwrite'], cache);
    expect(first.code, first.stderr).toBe(0);
    const out = path.join(cwd, 'out');

    const status = meap(['status', out], { MEAP_CACHE: cache });
    expect(status.code, status.stderr).toBe(0);
    const prepare0 = `cd ${cwd} && meap prepare in -t ${gpt2} -o out --seq-len 64 --progress none --partition 0 --num-partitions 2`;
    expect(status.stdout.split('\n')).toEqual([
      `${out}: unfinished \`meap prepare\`, 1 of 3 inputs done`,
      '  done       b.jsonl',
      '  to do      a.jsonl, c.jsonl',
      '  partitions 2: 0 to do, 1 done',
      expect.stringMatching(/^ {2}settings {3}mode pretrain, textField text, bos true, eos true, seqLen 64, mask random, maskRatio 0\.15, seed 0, .*, tokenizer sha256 [0-9a-f]{12}…$/),
      `  finish     ${prepare0}`,
      `             meap merge ${out}`,
      '',
    ]);
    const json = JSON.parse(meap(['status', out, '--json'], { MEAP_CACHE: cache }).stdout);
    expect(json).toMatchObject({
      complete: false,
      inputs: [{ path: 'a.jsonl', done: false }, { path: 'b.jsonl', done: true }, { path: 'c.jsonl', done: false }],
      partitions: [{ index: 0, done: false, heldBy: null }, { index: 1, done: true, heldBy: null }],
      finish: [prepare0, `meap merge ${out}`],
    });
    expect(json.settings.seqLen).toBe(64);
    const inspect = meap(['inspect', out], { MEAP_CACHE: cache });
    expect(inspect.code).toBe(2);
    expect(inspect.stderr).toContain(`1 of 3 inputs done (\`meap status ${out}\` lists the 2 commands that finish it)`);

    // Partition 0 at work (a live process holds its lock): nothing to run for it but the wait.
    const lock = path.join(out, '.meap', 'locks', 'partition-0-of-2.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname() }));
    expect(meap(['status', out], { MEAP_CACHE: cache }).stdout).toContain(`  partitions 2: 0 at work (process ${process.pid} on ${os.hostname()}), 1 done\n  settings`);
    expect(meap(['verify', out], { MEAP_CACHE: cache }).stderr).toContain(`(finish it with \`meap merge ${out}\` once partition 0 at work in it has finished)`);
    fs.rmSync(lock);

    for (const line of json.finish) paste(line, cache);
    const finished = meap(['status', out], { MEAP_CACHE: cache });
    expect(finished.code).toBe(0);
    expect(finished.stdout).toMatch(new RegExp(`^${out}: complete: 3 shards, \\d+ rows, [\\d,]+ tokens \\(\`meap inspect ${out}\` shows the summary\\)\\n$`));
    expect(JSON.parse(meap(['status', out, '--json']).stdout)).toMatchObject({ complete: true, manifest: { totals: { documents: 15 } } });
  });

  it('started by an older meap that kept no command: the refusal and the status show the settings to repeat', () => {
    const cwd = tempDir();
    const cache = path.join(cwd, 'cache');
    const input = path.join(cwd, 'a.jsonl');
    fs.writeFileSync(input, fs.readFileSync(slimpajama('chunk_0.jsonl'), 'utf8').split('\n').slice(0, 3).join('\n'));
    const out = path.join(cwd, 'out');
    const args = ['prepare', input, path.join(repoRoot, 'samples/tiny-corpus/web.jsonl'), '-t', gpt2, '-o', out, '--seq-len', '64', '--progress', 'none', '--num-partitions', '2', '--partition', '0'];
    expect(meap(args, { MEAP_CACHE: cache }).code).toBe(0);
    const runFile = path.join(out, '.meap', 'run.json');
    const { command: _, ...older } = JSON.parse(fs.readFileSync(runFile, 'utf8'));
    fs.writeFileSync(runFile, JSON.stringify(older));
    const r = meap(['inspect', out], { MEAP_CACHE: cache });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`(rerun the \`meap prepare\` command that started it; \`meap status ${out}\` shows its settings)`);
    const status = meap(['status', out], { MEAP_CACHE: cache }).stdout;
    expect(status).toContain('  settings   mode pretrain, textField text, bos true, eos true, seqLen 64, ');
    expect(status).toContain('  finish     rerun the `meap prepare` command that started it, with the settings above\n');
  });
});
