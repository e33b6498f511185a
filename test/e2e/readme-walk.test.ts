/**
 * A newcomer's first hour, scripted: the README's commands, in its order, on the corpus meap ships
 * (samples/tiny-corpus), through the real CLI, with the GPT-2 tokenizer in place of the README's
 * Llama-2 path (samples are plain pre-training text; SFT runs are prepare-sft.test.ts's). Every exit
 * code of the README's exit-code table is provoked here, and the test fails if the table lists one
 * that the walk did not see, or the walk sees one that the table does not list.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpt2, meap, repoRoot, tempDir } from '../helpers/cli.ts';

const SAMPLES = path.join(repoRoot, 'samples/tiny-corpus');
const root = tempDir('meap-walk-');
const at = (name: string) => path.join(root, name);
const cache = { MEAP_CACHE: at('cache') };

/** Every exit code the walk saw, with the command that gave it. */
const seen = new Map<number, string>();
function run(args: string[], expected: number) {
  const r = meap(args, cache);
  expect(r.code, `meap ${args.join(' ')}\n${r.stderr}`).toBe(expected);
  seen.set(expected, `meap ${args.join(' ')}`);
  return r;
}

/** Starts `meap train`, sends `signal` once a step is done, and returns the exit code and stderr. */
async function interrupted(args: string[], signal: NodeJS.Signals, afterFile: string) {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), ...args], { env: { ...process.env, ...cache } });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Once: a second signal would end the process at once, as it should for an impatient user.
  const timer = setInterval(() => {
    if (!fs.existsSync(afterFile)) return;
    clearInterval(timer);
    child.kill(signal);
  }, 100);
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearInterval(timer);
  seen.set(code!, `meap ${args.join(' ')} (${signal})`);
  return { code, stderr };
}

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("the README's walk on samples/tiny-corpus", () => {
  const shards = at('shards');

  it('quickstart and usage: demo, prepare, the ablations, inspect, verify, partitions and merge', () => {
    const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version as string;
    expect(run(['--version'], 0).stdout).toBe(`${version}\n`);
    expect(run(['demo', '--out', at('demo'), '--progress', 'none'], 0).stdout).toContain('next: npx meap inspect');

    const prepared = run(['prepare', SAMPLES, '--tokenizer', gpt2, '--out', shards, '--seq-len', '64', '--progress', 'none'], 0);
    expect(prepared.stdout).toMatch(/inputs {5}4 files, 23 documents/);
    expect(run(['prepare', SAMPLES, '--tokenizer', gpt2, '--out', shards, '--seq-len', '64', '--progress', 'none'], 0).stdout).toMatch(/already complete: nothing to do/);
    // Spans of 50 need rows of 335 tokens or more (a 64-token row holds none, and is refused): the README's 4096.
    for (const extra of [['--seq-len', '64', '--mask', 'span'], ['--seq-len', '4096', '--mask', 'span', '--span-length', '50'], ['--seq-len', '64', '--exclude-set', 'RedPajamaGithub', '--limit', '100']]) {
      run(['prepare', SAMPLES, '-t', gpt2, '-o', at(`ablation-${extra.slice(2).join('')}`), '--progress', 'none', ...extra], 0);
    }
    const span = run(['inspect', at('ablation---maskspan'), '--row', '3'], 0).stdout;
    expect(span).toMatch(/\[MASK×5:[^\]]+\]/);
    const three = run(['inspect', shards, '--rows', '2..4'], 0).stdout;
    expect(three.match(/^row \d+ /gm)).toEqual(['row 2 ', 'row 3 ', 'row 4 ']);
    expect(run(['inspect', shards, '--row', '5', '--limit', '2'], 0).stdout.match(/^row \d+ /gm)).toEqual(['row 5 ', 'row 6 ']);
    expect(run(['verify', shards], 0).stdout).toMatch(/: OK, 4 shards, [\d,]+ rows, [\d,]+ tokens verified\n$/);

    const parts = at('partitioned');
    for (const i of ['0', '1']) {
      expect(run(['prepare', SAMPLES, '-t', gpt2, '-o', parts, '--seq-len', '64', '--progress', 'none', '--num-partitions', '2', '--partition', i], 0).stdout).toContain(`partition ${i} of 2 done`);
    }
    run(['merge', parts], 0);
    expect(fs.readFileSync(path.join(parts, 'manifest.json'))).toEqual(fs.readFileSync(path.join(shards, 'manifest.json')));
  });

  it('training: train, eval on --mask none data, plot; a stopped run says how to resume', async () => {
    const run1 = at('run');
    const base = ['--data', shards, '--model', 'tiny', '--batch-size', '2', '--backend', 'wasm', '--progress', 'none'];
    run(['train', ...base, '--out', run1, '--steps', '2'], 0);
    const drawn = fs.readFileSync(path.join(run1, 'loss.svg'), 'utf8');
    const held = at('held');
    run(['prepare', path.join(SAMPLES, 'web.jsonl'), '-t', gpt2, '-o', held, '--seq-len', '64', '--mask', 'none', '--limit', '2', '--progress', 'none'], 0);
    const ev = run(['eval', '--run', run1, '--data', held, '--backend', 'wasm'], 0);
    expect(ev.stdout).toMatch(/\(step 2\) .*: mean loss [\d.]+, perplexity [\d.]+ over [\d,]+ targets in [\d,]+ rows/);
    expect(ev.stderr).not.toContain('warning');
    run(['plot', run1], 0);
    expect(fs.readFileSync(path.join(run1, 'loss.svg'), 'utf8')).toBe(drawn);

    // Stopped after its first checkpoint: the message names it and the command that continues.
    const stopped = at('stopped');
    const args = ['train', ...base, '--out', stopped, '--steps', '500', '--checkpoint-every', '1'];
    const int = await interrupted(args, 'SIGINT', path.join(stopped, 'checkpoints', 'step-00000001'));
    expect(int.code, int.stderr).toBe(130);
    expect(int.stderr).toMatch(new RegExp(`stopped by SIGINT; saved ${stopped}/checkpoints/step-\\d{8}; continue with: meap train .* --out ${stopped} .*--resume\\n$`));
    const newest = Math.max(...fs.readdirSync(path.join(stopped, 'checkpoints')).map((d) => Number(d.slice('step-'.length))));
    const term = await interrupted([...args, '--resume'], 'SIGTERM', path.join(stopped, 'checkpoints', `step-${String(newest + 2).padStart(8, '0')}`));
    expect(term.code, term.stderr).toBe(143);
    expect(term.stderr).toMatch(/stopped by SIGTERM; saved .*step-\d{8}; continue with: meap train .*--resume\n$/);
  }, 300_000);

  it('mistakes: one line each, exit 1 for damaged output and 2 for everything the user can fix', () => {
    // A shard with flipped header bytes: every reader names it and points to meap verify.
    const damaged = at('damaged');
    fs.cpSync(shards, damaged, { recursive: true });
    const first = JSON.parse(fs.readFileSync(path.join(damaged, 'manifest.json'), 'utf8')).shards[0].file as string;
    const bytes = fs.readFileSync(path.join(damaged, first));
    for (let i = 8; i < 24; i++) bytes[i] ^= 0xff;
    fs.writeFileSync(path.join(damaged, first), bytes);
    expect(run(['verify', damaged], 1).stdout).toMatch(/FAILED, \d+ problems?\n$/);
    for (const args of [['inspect', damaged], ['train', '--data', damaged, '--out', at('run-damaged'), '--steps', '1', '--backend', 'wasm', '--progress', 'none']]) {
      const r = run(args, 1);
      expect(r.stderr).toMatch(new RegExp(`^(meap train: backend .*\\n)?meap: error: ${path.join(damaged, first)}: .*run \`meap verify ${damaged}\``));
      expect(r.stderr).not.toContain('internal error');
    }
    const ev = run(['eval', '--run', at('run'), '--data', damaged, '--backend', 'wasm'], 1);
    expect(ev.stderr).toContain(`run \`meap verify ${damaged}\``);

    // Directories that are not meap output are the user's to fix: 2, as the README's table says.
    for (const args of [['inspect', SAMPLES], ['verify', SAMPLES], ['train', '--data', SAMPLES, '--out', at('run-x'), '--steps', '1'], ['eval', '--run', at('run'), '--data', at('run')]]) {
      expect(run(args, 2).stderr).toMatch(/^meap: error: .*not a meap output directory \(no manifest\.json\)/);
    }
    expect(run(['prepare', SAMPLES, '-t', gpt2, '-o', at('x'), '--span-length', '50'], 2).stderr).toBe('meap: error: --span-length applies to --mask span only (drop it, or pass --mask span)\n');
    // Argument errors come before the backend loads: the error is the only line.
    expect(run(['train', '--data', shards, '--out', at('run-y'), '--steps', '1', '--batch-size', '2', '--micro-batch', '3'], 2).stderr).toBe('meap: error: --micro-batch 3 is larger than --batch-size 2\n');
    expect(run(['train', '--data', shards, '--out', at('run'), '--steps', '1'], 2).stderr).toMatch(/^meap: error: .*the run directory holds a run \(its latest checkpoint is step-\d{8}\) \(pass --resume to continue it, --overwrite to replace it/);
    run(['nonsense'], 2);
    // Masked data evaluates, with a warning.
    const masked = at('masked');
    run(['prepare', path.join(SAMPLES, 'web.jsonl'), '-t', gpt2, '-o', masked, '--seq-len', '64', '--limit', '2', '--progress', 'none'], 0);
    expect(run(['eval', '--run', at('run'), '--data', masked, '--backend', 'wasm'], 0).stderr).toContain('[MASK] tokens, so this is not the perplexity of plain text');
  }, 300_000);

  it("every exit code in the README's table was seen, and no other", () => {
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Exit codes'));
    const table = section.slice(0, section.search(/\n\n(?!\|)/));
    const codes = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(codes.length).toBeGreaterThan(0);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual([...codes].sort((a, b) => a - b));
  });
});
