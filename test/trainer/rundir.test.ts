/**
 * The run directory: a new run never writes over another run's files, and `--resume` continues only
 * a checkpoint trained with the same model, data and order, naming the setting that differs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { TrainConfigSchema } from '../../schemas/train.ts';
import { saveCheckpoint, type CheckpointState } from '../../trainer/checkpoint.ts';
import { openRunDir } from '../../trainer/rundir.ts';
import { tempDir } from '../helpers/cli.ts';

const config = (out: string, resume: boolean) => TrainConfigSchema.parse({ data: ['shards'], out, steps: 10, resume });

/** What `meap train` records with each checkpoint. */
const EXTRA = { model: 'tiny', shape: { layers: 2 }, vocabRows: 32064, tokenizerSha256: 'ab'.repeat(32), seed: 0, steps: 10, batchSize: 8 };

function state(step: number, extra: Record<string, unknown>): CheckpointState {
  const data = Float32Array.from([1.5, -2]);
  return {
    step,
    params: [{ name: 'w', shape: [2], data }],
    optimizer: { step, m: [new Float32Array(2)], v: [new Float32Array(2)] },
    cursor: { epoch: 0, window: 0, offset: step * 8 },
    extra,
  };
}

async function refusal(p: Promise<unknown>): Promise<MeapError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  const m = e as MeapError;
  expect(m.kind).toBe('usage');
  expect(m.exitCode).toBe(2);
  expect(m.message).not.toContain('\n');
  return m;
}

describe('openRunDir', () => {
  it('creates a new run directory, or takes an empty one, for a fresh start', async () => {
    const out = path.join(tempDir('meap-run-'), 'a', 'run');
    expect(await openRunDir(config(out, false), EXTRA)).toBeNull();
    expect(fs.readdirSync(out)).toEqual([]);
    expect(await openRunDir(config(out, false), EXTRA)).toBeNull();
  });

  it('refuses a non-empty directory without --resume, and leaves its files alone', async () => {
    const out = tempDir('meap-run-');
    fs.writeFileSync(path.join(out, 'notes.txt'), 'not a run');
    const e = await refusal(openRunDir(config(out, false), EXTRA));
    expect(e.message).toContain(`${out}: the run directory is not empty`);
    expect(e.message).toContain('pass --resume');
    expect(fs.readdirSync(out)).toEqual(['notes.txt']);
  });

  it('refuses a file where the run directory should be, as one line, with or without --resume', async () => {
    const out = path.join(tempDir('meap-run-'), 'file');
    fs.writeFileSync(out, 'x');
    for (const resume of [false, true]) {
      const e = await refusal(openRunDir(config(out, resume), EXTRA));
      expect(e.message).toBe(`${out}: cannot use the run directory: it is a file (choose another --out)`);
    }
  });

  it('--resume without a checkpoint starts fresh', async () => {
    const missing = path.join(tempDir('meap-run-'), 'run');
    expect(await openRunDir(config(missing, true), EXTRA)).toBeNull();
    expect(fs.existsSync(missing)).toBe(true);
    // Metrics but no checkpoint: a run killed before its first save.
    const early = tempDir('meap-run-');
    fs.writeFileSync(path.join(early, 'metrics.jsonl'), '');
    expect(await openRunDir(config(early, true), EXTRA)).toBeNull();
  });

  it('--resume returns the latest checkpoint saved with the same settings', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    await saveCheckpoint(out, state(6, EXTRA), 3);
    const got = await openRunDir(config(out, true), EXTRA);
    expect(got?.step).toBe(6);
    expect(got?.cursor).toEqual({ epoch: 0, window: 0, offset: 48 });
    expect(got?.extra).toEqual(EXTRA);
    // More steps than the first command asked for continue the same run.
    expect((await openRunDir(config(out, true), { ...EXTRA, steps: 20 }))?.step).toBe(6);
  });

  it('--resume refuses a checkpoint saved under other settings, naming the setting and both values', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    const changes: Record<string, unknown> = { model: '100m', vocabRows: 50304, tokenizerSha256: 'cd'.repeat(32), seed: 7, batchSize: 4 };
    for (const [key, now] of Object.entries(changes)) {
      const e = await refusal(openRunDir(config(out, true), { ...EXTRA, [key]: now }));
      const was = EXTRA[key as keyof typeof EXTRA];
      expect(e.message).toContain(`${out}: --resume: the checkpoint was trained with ${key} ${JSON.stringify(was)}, this command gives ${JSON.stringify(now)}`);
      expect(e.message).toContain('resume with the same settings, or start a new run');
    }
  });

  it('--resume of a run started with --init needs the same --init; an absent one reads as none', async () => {
    const out = tempDir('meap-run-');
    const init = { ...EXTRA, init: 'hf/llama', model: null };
    await saveCheckpoint(out, state(3, init), 3);
    expect((await openRunDir(config(out, true), init))?.step).toBe(3);
    const e = await refusal(openRunDir(config(out, true), EXTRA));
    expect(e.message).toContain('--resume: the checkpoint was trained with init "hf/llama", this command gives none');
  });
});
