/**
 * What `prepare` may do with its `--out` directory: start it, resume it, find it finished, or refuse
 * it, by what it holds and the settings it was started with.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError, pathRefusal } from '../core/errors.ts';
import { makeDir } from '../core/make-dir.ts';
import { MANIFEST, readManifest } from '../datasets/shards/read.ts';
import type { RunFile } from '../schemas/workstate.ts';
import { DATASET_INFO, DATASET_STATE, isHfCacheFile } from './hf-dataset.ts';
import { isShardName } from './shards.ts';
import { WORK_DIR, removeWorkDir } from './workstate/dir.ts';
import { anyPartitionHeld } from './workstate/locks.ts';
import { anyUnitDone, describeDifference, readRunFile, writeRunFile } from './workstate/run-records.ts';

/**
 * What `prepare` would do with `out`, read without writing (a dry run shows it): start a run, after
 * removing `replaces` (what --overwrite replaces, or a failed run's leftovers); resume an unfinished
 * run started with the same settings; or find it finished with the same settings, where `staleWork`
 * is the work state that a kill between the manifest and its removal left. Anything else is refused.
 */
export type OutDirPlan = { state: 'fresh'; replaces: string[] } | { state: 'resume' } | { state: 'complete'; staleWork: boolean };

export async function planOutDir(out: string, run: RunFile, overwrite: boolean): Promise<OutDirPlan> {
  let entries: string[] = [];
  try {
    entries = await fs.readdir(out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw (await outDirRefusal(e, out)) ?? new MeapError('usage', `cannot use the output directory: ${code}`, { file: out });
  }
  // Hugging Face's cache files derive from the shards, so they count as ours: --overwrite removes them with the shards.
  const ours = entries.filter((e) => e === MANIFEST || e === WORK_DIR || e === DATASET_INFO || e === DATASET_STATE || isShardName(e) || isHfCacheFile(e));
  const foreign = entries.filter((e) => !ours.includes(e));
  if (foreign.length > 0) {
    throw new MeapError('usage', `the output directory holds files meap did not write (${foreign.slice(0, 3).join(', ')})`, { file: out }, 'choose an empty or new directory');
  }
  if (overwrite) return { state: 'fresh', replaces: ours };
  if (entries.includes(MANIFEST)) {
    const m = await readManifest(out);
    const diff = describeDifference({ settings: run.settings, inputs: run.inputs }, { settings: m.settings, inputs: m.inputs.map((i) => i.path) });
    if (diff !== null) throw new MeapError('usage', `the output directory was prepared differently: ${diff}`, { file: out }, 'pass --overwrite to start over, or choose another --out');
    return { state: 'complete', staleWork: entries.includes(WORK_DIR) };
  }
  if (entries.includes(WORK_DIR)) {
    const prior = await readRunFile(out);
    if (prior === null) return { state: 'fresh', replaces: [] };
    const diff = describeDifference({ settings: run.settings, inputs: run.inputs }, { settings: prior.settings, inputs: prior.inputs });
    if (diff === null) return { state: 'resume' };
    // A run that failed before finishing any unit holds nothing worth keeping: the fix (say
    // --on-error skip) must not need --overwrite. Unless another partition is at work in it.
    if ((await anyUnitDone(out)) || (await anyPartitionHeld(out))) {
      throw new MeapError('usage', `the output directory holds an unfinished run with other settings: ${diff}`, { file: out }, 'rerun that command to finish it, or pass --overwrite to start over');
    }
    return { state: 'fresh', replaces: ours };
  }
  if (ours.length > 0) throw new MeapError('usage', 'the output directory holds shards without a manifest or work state', { file: out }, 'pass --overwrite to start over');
  return { state: 'fresh', replaces: [] };
}

/** Carries out planOutDir's plan: a fresh directory gets the run's settings. */
export async function openOutDir(out: string, run: RunFile, overwrite: boolean): Promise<OutDirPlan['state']> {
  const plan = await planOutDir(out, run, overwrite);
  if (plan.state === 'complete' && plan.staleWork) await removeWorkDir(out);
  if (plan.state !== 'fresh') return plan.state;
  await Promise.all(plan.replaces.map((e) => fs.rm(path.join(out, e), { recursive: true, force: true })));
  try {
    await makeDir(out);
    await writeRunFile(out, run);
  } catch (e) {
    throw (await outDirRefusal(e, out)) ?? e;
  }
  return 'fresh';
}

/** `--out` as the OS refused it, in one line with what to do: a file in its place, or a path the user may not write. */
async function outDirRefusal(e: unknown, out: string): Promise<MeapError | null> {
  if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') return pathRefusal(e, 'choose a writable --out');
  if ((await fs.stat(out).catch(() => null))?.isFile()) return new MeapError('usage', 'is a file, not a directory', { file: out }, 'choose a directory for --out');
  return pathRefusal(e, 'choose a directory for --out');
}

/**
 * After a failed run: work state in which no unit finished holds nothing worth resuming, so it goes
 * (the directory itself stays), and the corrected command starts clean. Kept while another
 * partition is at work in it.
 */
export async function discardIfNothingDone(out: string): Promise<void> {
  if ((await anyUnitDone(out)) || (await anyPartitionHeld(out))) return;
  await discardWork(out);
}

/** The work state and the shards go; the directory itself stays. */
export async function discardWork(out: string): Promise<void> {
  const entries = await fs.readdir(out).catch(() => [] as string[]);
  await Promise.all(entries.filter((e) => e === WORK_DIR || isShardName(e)).map((e) => fs.rm(path.join(out, e), { recursive: true, force: true })));
}
