/**
 * The run directory: a new run never writes over another run's checkpoints (unless --overwrite) nor
 * over files meap train did not write, writes nothing before `prepare`, and takes over what a run
 * that saved no checkpoint left; `--resume` needs a checkpoint, continues only one trained with the
 * same recipe (naming the option and both values), and says what another --steps does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { TrainConfigSchema } from '../../schemas/train.ts';
import { saveCheckpoint, type CheckpointState } from '../../trainer/checkpoint.ts';
import { openRunDir } from '../../trainer/rundir.ts';
import { tempDir } from '../helpers/cli.ts';

const config = (out: string, o: { resume?: boolean; overwrite?: boolean; steps?: number } = {}) =>
  TrainConfigSchema.parse({ data: ['shards'], out, steps: o.steps ?? 10, resume: o.resume ?? false, overwrite: o.overwrite ?? false });
const resume = (out: string, steps = 10) => config(out, { resume: true, steps });

/** What `meap train` records with each checkpoint, for the schema's defaults. */
const { seed, steps, batchSize, lr, minLr, warmup, weightDecay, beta1, beta2, clip } = config('run');
const EXTRA = {
  model: 'tiny',
  shape: { layers: 2 },
  vocabRows: 32064,
  tokenizerSha256: 'ab'.repeat(32),
  data: { shards: 2, rows: 100, sha256: 'ef'.repeat(32) },
  ...{ seed, steps, batchSize, lr, minLr, warmup, weightDecay, beta1, beta2, clip },
};

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

describe('openRunDir for a new run', () => {
  it('creates the directory in prepare(), not before', async () => {
    const out = path.join(tempDir('meap-run-'), 'a', 'run');
    const run = await openRunDir(config(out), EXTRA);
    expect(run.checkpoint).toBeNull();
    expect(fs.existsSync(out)).toBe(false);
    await run.prepare();
    expect(fs.readdirSync(out)).toEqual([]);
    expect((await openRunDir(config(out), EXTRA)).checkpoint).toBeNull();
  });

  it('refuses files meap train did not write, with or without --overwrite, and leaves them alone', async () => {
    const out = tempDir('meap-run-');
    fs.writeFileSync(path.join(out, 'notes.txt'), 'not a run');
    fs.mkdirSync(path.join(out, 'checkpoints'));
    fs.writeFileSync(path.join(out, 'checkpoints', 'mine.bin'), 'x');
    for (const overwrite of [false, true]) {
      const e = await refusal(openRunDir(config(out, { overwrite }), EXTRA));
      expect(e.message).toBe(`${out}: the run directory holds files meap train did not write (notes.txt, checkpoints/mine.bin) (choose an empty or new directory)`);
    }
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoints', 'notes.txt']);
  });

  it('refuses a file where the run directory should be, as one line, with or without --resume', async () => {
    const out = path.join(tempDir('meap-run-'), 'file');
    fs.writeFileSync(out, 'x');
    for (const resume of [false, true]) {
      const e = await refusal(openRunDir(config(out, { resume }), EXTRA));
      expect(e.message).toBe(`${out}: cannot use the run directory: it is a file (choose another --out)`);
    }
  });

  it('takes over what a run that saved no checkpoint left behind, emptying it in prepare()', async () => {
    const out = tempDir('meap-run-');
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), '');
    fs.writeFileSync(path.join(out, 'loss.svg'), '<svg/>');
    fs.mkdirSync(path.join(out, 'checkpoints', '.tmp-step-00000001-1-ab'), { recursive: true });
    const run = await openRunDir(config(out), EXTRA);
    expect(fs.readdirSync(out).length).toBe(3);
    await run.prepare();
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('refuses a run with checkpoints, naming --resume and --overwrite; --overwrite replaces it in prepare()', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    fs.writeFileSync(path.join(out, 'metrics.jsonl'), '');
    const e = await refusal(openRunDir(config(out), EXTRA));
    expect(e.message).toBe(`${out}: the run directory holds a run (its latest checkpoint is step-00000003) (pass --resume to continue it, --overwrite to replace it, or choose another --out)`);
    const run = await openRunDir(config(out, { overwrite: true }), EXTRA);
    expect(fs.readdirSync(out).sort()).toEqual(['checkpoints', 'metrics.jsonl']);
    await run.prepare();
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('refuses --resume with --overwrite', async () => {
    const e = await refusal(openRunDir(config(tempDir('meap-run-'), { resume: true, overwrite: true }), EXTRA));
    expect(e.message).toContain('--resume and --overwrite exclude each other');
  });
});

describe('openRunDir --resume', () => {
  it('refuses where there is nothing to resume, creating nothing, and says what to do', async () => {
    const missing = path.join(tempDir('meap-run-'), 'run');
    expect((await refusal(openRunDir(resume(missing), EXTRA))).message).toBe(`${missing}: --resume: nothing to resume: the run directory does not exist (drop --resume to start a new run)`);
    expect(fs.existsSync(missing)).toBe(false);
    // Metrics but no checkpoint: a run killed before its first save.
    const early = tempDir('meap-run-');
    fs.writeFileSync(path.join(early, 'metrics.jsonl'), '');
    expect((await refusal(openRunDir(resume(early), EXTRA))).message).toBe(`${early}: --resume: nothing to resume: the run directory holds no checkpoint (drop --resume to start a new run)`);
    // Only damaged checkpoints: a new run would need --overwrite.
    const damaged = tempDir('meap-run-');
    await saveCheckpoint(damaged, state(3, EXTRA), 3);
    fs.writeFileSync(path.join(damaged, 'checkpoints', 'step-00000003', 'tensors.bin'), 'cut');
    expect((await refusal(openRunDir(resume(damaged), EXTRA))).message).toContain('no checkpoint in the run directory is complete (pass --overwrite instead of --resume to start over)');
  });

  it('returns the latest checkpoint saved with the same recipe, and says nothing more when --steps is the same', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    await saveCheckpoint(out, state(6, EXTRA), 3);
    const run = await openRunDir(resume(out), EXTRA);
    expect(run.checkpoint?.step).toBe(6);
    expect(run.checkpoint?.cursor).toEqual({ epoch: 0, window: 0, offset: 48 });
    expect(run.checkpoint?.extra).toEqual(EXTRA);
    expect(run.notes).toEqual([]);
  });

  it('takes another --steps and says what it does to the learning rate; refuses one below the checkpoint', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(10, EXTRA), 3);
    // 10 steps with 1 of warm-up ended on minLr; over 20 steps (2 of warm-up) step 11 is part-way down the cosine.
    const longer = await openRunDir(resume(out, 20), { ...EXTRA, steps: 20 });
    expect(longer.checkpoint?.step).toBe(10);
    expect(longer.notes).toEqual(['--steps 20 (was 10) stretches the cosine schedule: the learning rate goes from 4.00e-5 at step 10 to 2.37e-4 at step 11']);
    expect((await openRunDir(resume(out, 10), EXTRA)).notes).toEqual(['the run is at step 10 of --steps 10: nothing to train (pass a larger --steps to train further)']);
    const e = await refusal(openRunDir(resume(out, 5), { ...EXTRA, steps: 5 }));
    expect(e.message).toBe(`${out}: --resume: the run is at step 10, past --steps 5 (pass --steps 10 or more)`);

    const mid = tempDir('meap-run-');
    await saveCheckpoint(mid, state(4, { ...EXTRA, steps: 20 }), 3);
    expect((await openRunDir(resume(mid, 10), EXTRA)).notes).toEqual([expect.stringMatching(/^--steps 10 \(was 20\) shortens the cosine schedule: /)]);
  });

  it('refuses every other option of the recipe that differs, naming the flag and both values', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    const changes: [string, unknown, string][] = [
      ['model', '100m', '--model'],
      ['seed', 7, '--seed'],
      ['batchSize', 4, '--batch-size'],
      ['lr', 1e-3, '--lr'],
      ['minLr', 0, '--min-lr'],
      ['warmup', 0.2, '--warmup'],
      ['weightDecay', 0.1, '--weight-decay'],
      ['beta1', 0.8, '--beta1'],
      ['beta2', 0.99, '--beta2'],
      ['clip', 0.5, '--clip'],
    ];
    for (const [key, now, flag] of changes) {
      const was = EXTRA[key as keyof typeof EXTRA];
      const e = await refusal(openRunDir(resume(out), { ...EXTRA, [key]: now }));
      expect(e.message).toBe(`${out}: --resume: the run was trained with ${flag} ${was}, this command gives ${flag} ${now} (resume with ${flag} ${was}, or start a new run)`);
    }
  });

  it('refuses other data: another tokenizer, or other shards', async () => {
    const out = tempDir('meap-run-');
    await saveCheckpoint(out, state(3, EXTRA), 3);
    const tok = await refusal(openRunDir(resume(out), { ...EXTRA, tokenizerSha256: 'cd'.repeat(32), vocabRows: 50304 }));
    expect(tok.message).toContain('--resume: the run was trained on data tokenized with abababababab… (32064 embedding rows), --data gives cdcdcdcdcdcd… (50304)');
    const shards = await refusal(openRunDir(resume(out), { ...EXTRA, data: { shards: 3, rows: 150, sha256: '01'.repeat(32) } }));
    expect(shards.message).toContain('--resume: the run was trained on other data (2 shards, 100 rows), --data gives 3 shards, 150 rows');
  });

  it('of a run started with --init needs the same --init', async () => {
    const out = tempDir('meap-run-');
    const init = { ...EXTRA, init: 'hf/llama', model: null };
    await saveCheckpoint(out, state(3, init), 3);
    expect((await openRunDir(resume(out), init)).checkpoint?.step).toBe(3);
    const e = await refusal(openRunDir(resume(out), EXTRA));
    expect(e.message).toContain('--resume: the run was trained with --init hf/llama, this command gives no --init (resume with --init hf/llama, or start a new run)');
  });

  it('of a checkpoint older than the record of the schedule says which options it could not check', async () => {
    const out = tempDir('meap-run-');
    const recordedSince = ['lr', 'minLr', 'warmup', 'weightDecay', 'beta1', 'beta2', 'clip', 'data'];
    const old = Object.fromEntries(Object.entries(EXTRA).filter(([k]) => !recordedSince.includes(k)));
    await saveCheckpoint(out, state(3, old), 3);
    const run = await openRunDir(resume(out), EXTRA);
    expect(run.checkpoint?.step).toBe(3);
    expect(run.notes).toEqual(["the checkpoint predates the record of --lr, --min-lr, --warmup, --weight-decay, --beta1, --beta2, --clip: this command's values apply"]);
  });
});
