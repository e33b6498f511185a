/**
 * The run directory of `meap train`. A new run takes a directory that holds no other run's
 * checkpoints (or replaces that run with --overwrite), never one with files meap train did not
 * write; `--resume` needs a checkpoint trained with the same recipe, and says what the one option
 * it may change, --steps, does to the schedule. Nothing is written until `prepare`, which the loop
 * calls once the backend and engine have started: a run that cannot start changes nothing.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError } from '../core/errors.ts';
import { makeDir } from '../core/make-dir.ts';
import type { TrainConfig } from '../schemas/train.ts';
import { CHECKPOINTS, checkpointDirs, isCheckpointName, loadLatestCheckpoint, type CheckpointState } from './checkpoint.ts';
import { METRICS, METRICS_TMP } from './metrics.ts';
import { LOSS_SVG } from './plot.ts';
import { learningRate } from './schedule.ts';

export interface RunDir {
  /** The checkpoint a --resume continues; null for a new run. */
  checkpoint: CheckpointState | null;
  /** What the resume changes, or could not check, one line each. */
  notes: string[];
  /** Creates the directory, or empties it of the run it replaces. */
  prepare(): Promise<void>;
}

/** Everything `meap train` writes at the top of a run directory. */
const RUN_FILES = [CHECKPOINTS, METRICS, METRICS_TMP, LOSS_SVG];

/**
 * The options that make the run what it is (weights, data order, schedule, optimizer), by the
 * TrainConfig key its checkpoints record them under (recipeOf): a resume must repeat them. Changing
 * one halfway is another run, which `meap export` and `--init` start from the checkpoint.
 */
const RECIPE: readonly (readonly [key: keyof TrainConfig, flag: string])[] = [
  ['init', '--init'],
  ['model', '--model'],
  ['seed', '--seed'],
  ['batchSize', '--batch-size'],
  ['lr', '--lr'],
  ['minLr', '--min-lr'],
  ['warmup', '--warmup'],
  ['weightDecay', '--weight-decay'],
  ['beta1', '--beta1'],
  ['beta2', '--beta2'],
  ['clip', '--clip'],
];

/** The recipe options' values, for the checkpoints' `extra` (the loop records `model` as it resolved it). */
export const recipeOf = (cfg: TrainConfig): Record<string, unknown> => Object.fromEntries(RECIPE.map(([key]) => [key, cfg[key]]));

export async function openRunDir(cfg: TrainConfig, extra: Record<string, unknown>): Promise<RunDir> {
  const refuse = (what: string, hint: string) => new MeapError('usage', what, { file: cfg.out }, hint);
  if (cfg.resume && cfg.overwrite) throw refuse('--resume and --overwrite exclude each other', '--resume continues the run, --overwrite replaces it: pass one');
  const entries = await fs.readdir(cfg.out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw refuse(`cannot use the run directory: ${e.code === 'ENOTDIR' ? 'it is a file' : (e.code ?? e.message)}`, 'choose another --out');
  });
  if (cfg.resume) return resume(cfg, extra, entries !== null, refuse);

  const foreign = entries === null ? [] : await foreignFiles(cfg.out, entries);
  const steps = foreign.includes(CHECKPOINTS) ? [] : await checkpointDirs(cfg.out);
  if (steps.length > 0 && !cfg.overwrite) {
    throw refuse(`the run directory holds a run (its latest checkpoint is ${path.basename(steps[0])})`, 'pass --resume to continue it, --overwrite to replace it, or choose another --out');
  }
  if (foreign.length > 0) throw refuse(`the run directory holds files meap train did not write (${foreign.slice(0, 3).join(', ')})`, 'choose an empty or new directory');
  return {
    checkpoint: null,
    notes: [],
    // A run without checkpoints (one that failed or was stopped before its first) holds nothing to
    // resume: it is replaced without asking, so the corrected command runs as it is.
    async prepare() {
      await Promise.all((entries ?? []).map((e) => fs.rm(path.join(cfg.out, e), { recursive: true, force: true })));
      await makeDir(cfg.out);
    },
  };
}

async function resume(cfg: TrainConfig, extra: Record<string, unknown>, exists: boolean, refuse: (what: string, hint: string) => MeapError): Promise<RunDir> {
  const ckpt = exists ? await loadLatestCheckpoint(cfg.out) : null;
  if (ckpt === null) {
    const damaged = exists && (await checkpointDirs(cfg.out)).length > 0;
    throw refuse(
      `--resume: nothing to resume: ${!exists ? 'the run directory does not exist' : damaged ? 'no checkpoint in the run directory is complete' : 'the run directory holds no checkpoint'}`,
      damaged ? 'pass --overwrite instead of --resume to start over' : 'drop --resume to start a new run',
    );
  }
  const was = ckpt.extra;
  if (was.tokenizerSha256 !== extra.tokenizerSha256 || was.vocabRows !== extra.vocabRows) {
    throw refuse(
      `--resume: the run was trained on data tokenized with ${String(was.tokenizerSha256).slice(0, 12)}… (${was.vocabRows} embedding rows), --data gives ${String(extra.tokenizerSha256).slice(0, 12)}… (${extra.vocabRows})`,
      "resume with the run's --data directories, or start a new run",
    );
  }
  const data = extra.data as { shards: number; rows: number; sha256: string };
  const before = was.data as typeof data | undefined;
  if (before !== undefined && before.sha256 !== data.sha256) {
    throw refuse(
      `--resume: the run was trained on other data (${before.shards} shards, ${before.rows} rows), --data gives ${data.shards} shards, ${data.rows} rows`,
      "resume with the run's --data directories, or train on other data in a new run (meap export, then train --init)",
    );
  }
  const unrecorded: string[] = [];
  for (const [key, flag] of RECIPE) {
    // `init` is absent where there was none; any other key is absent from checkpoints older than the check.
    if (!(key in was) && key !== 'init') {
      unrecorded.push(flag);
      continue;
    }
    if (JSON.stringify(was[key] ?? null) !== JSON.stringify(extra[key] ?? null)) {
      const given = (v: unknown) => (v === undefined || v === null ? `no ${flag}` : `${flag} ${v}`);
      throw refuse(
        `--resume: the run was trained with ${given(was[key])}, this command gives ${given(extra[key])}`,
        `${was[key] === undefined || was[key] === null ? `drop ${flag}` : `resume with ${flag} ${was[key]}`}, or start a new run`,
      );
    }
  }
  if (cfg.steps < ckpt.step) throw refuse(`--resume: the run is at step ${ckpt.step}, past --steps ${cfg.steps}`, `pass --steps ${ckpt.step} or more`);

  const notes: string[] = [];
  if (unrecorded.length > 0) notes.push(`the checkpoint predates the record of ${unrecorded.join(', ')}: this command's values apply`);
  const steps = typeof was.steps === 'number' ? was.steps : cfg.steps;
  if (cfg.steps === ckpt.step) notes.push(`the run is at step ${ckpt.step} of --steps ${cfg.steps}: nothing to train (pass a larger --steps to train further)`);
  else if (steps !== cfg.steps && ckpt.step > 0) notes.push(scheduleChange(ckpt.step, steps, cfg));
  return { checkpoint: ckpt, notes, prepare: async () => {} };
}

/** What another --steps does to the learning rate where the run goes on: the cosine is redrawn over the new total. */
function scheduleChange(at: number, was: number, cfg: TrainConfig): string {
  const fmt = (lr: number) => lr.toExponential(2);
  const before = learningRate(at - 1, was, cfg);
  const after = learningRate(at, cfg.steps, cfg);
  return `--steps ${cfg.steps} (was ${was}) ${cfg.steps > was ? 'stretches' : 'shortens'} the cosine schedule: the learning rate goes from ${fmt(before)} at step ${at} to ${fmt(after)} at step ${at + 1}`;
}

/** Entries meap train did not write: at the top, and inside checkpoints/. */
async function foreignFiles(out: string, entries: string[]): Promise<string[]> {
  const foreign = entries.filter((e) => !RUN_FILES.includes(e));
  if (entries.includes(CHECKPOINTS)) {
    const inside = await fs.readdir(path.join(out, CHECKPOINTS)).catch(() => null);
    if (inside === null) foreign.push(CHECKPOINTS);
    else foreign.push(...inside.filter((n) => !isCheckpointName(n)).map((n) => path.join(CHECKPOINTS, n)));
  }
  return foreign;
}
