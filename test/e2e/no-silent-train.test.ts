/**
 * Issue 20's training points, through the CLI: a resume continues the run it was asked to or says
 * why not (and what another --steps does), a run that failed before its first step does not block
 * its own rerun, arguments are refused before anything is printed or created, `train --overwrite`,
 * `eval --max-rows`, and the what-to-do of eval's tokenizer mismatch.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2, llama2, meap, readJsonl, repoRoot, tempDir } from '../helpers/cli.ts';

const web = path.join(repoRoot, 'samples/tiny-corpus/web.jsonl');

let shards: string;
beforeAll(() => {
  shards = path.join(tempDir(), 'shards');
  const r = meap(['prepare', web, '-t', llama2, '-o', shards, '--seq-len', '64', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
});

/** A few tiny-model steps on wasm: seconds. */
const train = (out: string, ...extra: string[]) =>
  meap(['train', '--data', shards, '--out', out, '--model', 'tiny', '--batch-size', '2', '--backend', 'wasm', '--progress', 'none', ...extra]);
const steps = (run: string) => readJsonl(path.join(run, 'metrics.jsonl')).map((m) => m.step);
const checkpoints = (run: string) => fs.readdirSync(path.join(run, 'checkpoints')).sort();

describe('train --resume', () => {
  it('refuses a change of --lr or --batch-size alike, in one line before the backend loads; takes --steps and says what it does', () => {
    const run = path.join(tempDir(), 'run');
    expect(train(run, '--steps', '3').code).toBe(0);

    for (const [flag, was, now] of [['--lr', '0.0004', '0.001'], ['--batch-size', '2', '4']]) {
      const r = train(run, '--steps', '5', '--resume', flag, now);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`meap: error: ${run}: --resume: the run was trained with ${flag} ${was}, this command gives ${flag} ${now} (resume with ${flag} ${was}, or start a new run)\n`);
    }
    expect(steps(run)).toEqual([1, 2, 3]);

    const longer = train(run, '--steps', '5', '--resume');
    expect(longer.code, longer.stderr).toBe(0);
    expect(longer.stderr).toContain('meap train: resumed from step 3\n');
    // 3 steps ended on --min-lr; over 5 steps, step 4 is part-way down the cosine again.
    expect(longer.stderr).toMatch(/meap train: --steps 5 \(was 3\) stretches the cosine schedule: the learning rate goes from 4\.00e-5 at step 3 to \d\.\d\de-4 at step 4\n/);
    expect(steps(run)).toEqual([1, 2, 3, 4, 5]);

    const fewer = train(run, '--steps', '4', '--resume');
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toBe(`meap: error: ${run}: --resume: the run is at step 5, past --steps 4 (pass --steps 5 or more)\n`);
    const same = train(run, '--steps', '5', '--resume');
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toContain('nothing to train (pass a larger --steps to train further)');
  }, 120_000);

  it('refuses where there is nothing to resume, and says to drop --resume', () => {
    const run = path.join(tempDir(), 'run');
    const missing = train(run, '--steps', '1', '--resume');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`meap: error: ${run}: --resume: nothing to resume: the run directory does not exist (drop --resume to start a new run)\n`);
    expect(fs.existsSync(run)).toBe(false);
    fs.mkdirSync(run);
    expect(train(run, '--steps', '1', '--resume').stderr).toBe(`meap: error: ${run}: --resume: nothing to resume: the run directory holds no checkpoint (drop --resume to start a new run)\n`);
  });
});

describe('a failed or refused train', () => {
  it('that stopped on a corrupt shard at step 0 leaves nothing behind, and the same command reruns once the data is fixed', () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    fs.cpSync(shards, data, { recursive: true });
    const shard = path.join(data, fs.readdirSync(data).find((f) => f.endsWith('.arrow'))!);
    const good = fs.readFileSync(shard);
    const bad = Buffer.from(good);
    for (let i = 8; i < 24; i++) bad[i] ^= 0xff;
    fs.writeFileSync(shard, bad);
    const run = path.join(dir, 'run');
    const args = ['train', '--data', data, '--out', run, '--steps', '2', '--batch-size', '2', '--backend', 'wasm', '--progress', 'none'];
    const failed = meap(args);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('run `meap verify');
    expect(fs.readdirSync(run)).toEqual([]);
    fs.writeFileSync(shard, good);
    const rerun = meap(args);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(steps(run)).toEqual([1, 2]);
  }, 60_000);

  it('takes over a directory that an earlier failed run left without a checkpoint', () => {
    const run = tempDir();
    fs.writeFileSync(path.join(run, 'metrics.jsonl'), '');
    fs.writeFileSync(path.join(run, 'loss.svg'), '<svg/>');
    const r = train(run, '--steps', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(steps(run)).toEqual([1]);
  });

  it('refuses --precision mixed on wasm as the only line, before the backend line, creating nothing', () => {
    const run = path.join(tempDir(), 'run');
    const r = train(run, '--steps', '1', '--precision', 'mixed');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('meap: error: --precision mixed needs the WebGPU engine (--backend webgpu) (drop --precision, or train with --backend webgpu)\n');
    expect(fs.existsSync(run)).toBe(false);
  });
});

describe('train --overwrite', () => {
  it('replaces a run, and refuses a directory holding files meap train did not write', () => {
    const run = path.join(tempDir(), 'run');
    expect(train(run, '--steps', '2').code).toBe(0);
    const again = train(run, '--steps', '1');
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`meap: error: ${run}: the run directory holds a run (its latest checkpoint is step-00000002) (pass --resume to continue it, --overwrite to replace it, or choose another --out)\n`);
    const replaced = train(run, '--steps', '1', '--overwrite');
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(steps(run)).toEqual([1]);
    expect(checkpoints(run)).toEqual(['step-00000001']);

    fs.writeFileSync(path.join(run, 'notes.txt'), 'mine');
    const foreign = train(run, '--steps', '1', '--overwrite');
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toBe(`meap: error: ${run}: the run directory holds files meap train did not write (notes.txt) (choose an empty or new directory)\n`);
    expect(checkpoints(run)).toEqual(['step-00000001']);
  }, 60_000);
});

describe('meap eval', () => {
  let run: string;
  beforeAll(() => {
    run = path.join(tempDir(), 'run');
    expect(train(run, '--steps', '1').code).toBe(0);
  });

  it('--max-rows N evaluates the first N rows, and says so', () => {
    const all = JSON.parse(meap(['eval', '--run', run, '--data', shards, '--backend', 'wasm', '--json']).stdout);
    const few = meap(['eval', '--run', run, '--data', shards, '--backend', 'wasm', '--json', '--max-rows', '5']);
    expect(few.code, few.stderr).toBe(0);
    const r = JSON.parse(few.stdout);
    expect(r.rows).toBe(5);
    expect(r.dataRows).toBe(all.rows);
    expect(r.targets).toBeGreaterThan(0);
    expect(r.targets).toBeLessThan(all.targets);
    const text = meap(['eval', '--run', run, '--data', shards, '--backend', 'wasm', '--max-rows', '5']);
    expect(text.stdout).toMatch(new RegExp(` in the first 5 of ${all.rows} rows \\(--max-rows\\)\\n$`));
  }, 60_000);

  it('on data of another tokenizer says what to do', () => {
    const held = path.join(tempDir(), 'held');
    expect(meap(['prepare', web, '-t', gpt2, '-o', held, '--seq-len', '64', '--mask', 'none', '--progress', 'none']).code).toBe(0);
    const r = meap(['eval', '--run', run, '--data', held, '--backend', 'wasm']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meap: error: the held-out data was tokenized with [0-9a-f]{12}…, the run with [0-9a-f]{12}… \(prepare the held-out data with the tokenizer that the run's --data was prepared with\)\n$/);
  });
});
