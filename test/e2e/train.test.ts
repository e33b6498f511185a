/**
 * `meap train` end to end through the CLI on shards prepared from the real fixtures: the loss
 * falls, a killed run resumes to bitwise-equal losses on cpu, and the run directory holds what a
 * user is promised.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { llama2, meap, repoRoot, slimpajama, tempDir } from '../helpers/cli.ts';

let shards: string;
beforeAll(() => {
  shards = path.join(tempDir(), 'shards');
  const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', shards, '--tokenizer', llama2, '--seq-len', '128', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
});

const metrics = (run: string) =>
  fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { step: number; loss: number; lr: number; gradNorm: number; tokens: number; tokensPerSec: number });

describe('meap train', () => {
  it('trains the tiny model for 100 steps of 4 rows: the loss falls to at most 0.8× its start', () => {
    const run = path.join(tempDir(), 'run');
    const r = meap(['train', '--data', shards, '--out', run, '--model', 'tiny', '--steps', '100', '--batch-size', '4', '--lr', '3e-3', '--min-lr', '3e-4', '--checkpoint-every', '50', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/backend (wasm|cpu|tensorflow)/);
    const m = metrics(run);
    expect(m.map((x) => x.step)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const mean = (xs: typeof m) => xs.reduce((s, x) => s + x.loss, 0) / xs.length;
    expect(mean(m.slice(-10))).toBeLessThanOrEqual(0.8 * mean(m.slice(0, 10)));
    expect(m[0].tokens).toBe(4 * 127);
    expect(fs.readFileSync(path.join(run, 'loss.svg'), 'utf8')).toMatch(/^<svg/);
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((d) => d.startsWith('step-'))).toEqual(['step-00000050', 'step-00000100']);

    const held = path.join(tempDir(), 'held');
    expect(meap(['prepare', slimpajama('chunk_1.jsonl'), '--out', held, '--tokenizer', llama2, '--seq-len', '128', '--mask', 'none', '--limit', '10', '--progress', 'none']).code).toBe(0);
    const ev = meap(['eval', '--run', run, '--data', held, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    const e = JSON.parse(ev.stdout);
    expect(e.step).toBe(100);
    expect(e.perplexity).toBeCloseTo(Math.exp(e.meanLoss), 6);
    expect(meap(['plot', run]).code).toBe(0);
  }, 900_000); // 100 wasm steps: minutes on 2 busy cores (the WebGPU tests run beside it)

  it('resumes after a SIGKILL mid-run with bitwise-equal per-step losses on the cpu backend', async () => {
    // The cpu backend is plain JavaScript: short rows keep this test to seconds.
    const short = path.join(tempDir(), 'short');
    expect(meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', short, '--tokenizer', llama2, '--seq-len', '32', '--limit', '20', '--progress', 'none']).code).toBe(0);
    const base = ['--data', short, '--model', 'tiny', '--steps', '8', '--batch-size', '2', '--micro-batch', '1', '--checkpoint-every', '3', '--backend', 'cpu', '--progress', 'none'];
    const straight = path.join(tempDir(), 'straight');
    expect(meap(['train', ...base, '--out', straight]).code).toBe(0);

    const killed = path.join(tempDir(), 'killed');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/meap.js'), 'train', ...base, '--out', killed], { stdio: 'ignore' });
    // Kill it after the checkpoint at step 3 and at least one more step: mid-way through the run.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const done = fs.existsSync(path.join(killed, 'metrics.jsonl')) ? metrics(killed).length : 0;
        if (done >= 4) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run ended before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    const resumed = meap(['train', ...base, '--out', killed, '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from step [36]/);
    const a = metrics(straight);
    const b = metrics(killed);
    expect(b.map((x) => x.step)).toEqual(a.map((x) => x.step));
    // Bitwise: the float32 losses are identical, not merely close.
    expect(b.map((x) => Math.fround(x.loss))).toEqual(a.map((x) => Math.fround(x.loss)));
    expect(b.map((x) => x.loss)).toEqual(a.map((x) => x.loss));
  });

  it('refuses datasets prepared with different tokenizers, and a non-empty run directory without --resume', () => {
    const gpt = path.join(tempDir(), 'gpt2');
    expect(meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', gpt, '--tokenizer', path.join(path.dirname(llama2), '../gpt2/tokenizer.json'), '--seq-len', '128', '--limit', '5', '--progress', 'none']).code).toBe(0);
    const r = meap(['train', '--data', shards, '--data', gpt, '--out', path.join(tempDir(), 'r'), '--steps', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/tokenizer|vocab/);
    const run = tempDir();
    fs.writeFileSync(path.join(run, 'something'), 'x');
    expect(meap(['train', '--data', shards, '--out', run, '--steps', '1']).code).toBe(2);
  });
});
