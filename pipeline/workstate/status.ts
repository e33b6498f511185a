/**
 * Where an unfinished `prepare` stands, from its work state alone: which inputs are done, which
 * partitions are at work, its settings, and the commands that finish it. `meap status` shows it, and
 * `inspect` and `verify` name the commands when they refuse such a directory.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError } from '../../core/errors.ts';
import { meapCommand } from '../../core/shell.ts';
import { MANIFEST, readManifest } from '../../datasets/shards/read.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import type { RunSettings } from '../../schemas/settings.ts';
import type { RunCommand } from '../../schemas/workstate.ts';
import { partitionLocks } from './locks.ts';
import { inPartition } from './partition.ts';
import { readRunFile, readUnitResult } from './run-records.ts';

export interface RunStatus {
  settings: RunSettings;
  /** Every input in run order; input i belongs to partition i mod N. */
  inputs: { path: string; done: boolean }[];
  /** N of them (1: not partitioned); `heldBy` names the live process at work on one. */
  partitions: { index: number; done: boolean; heldBy: { pid?: number; host?: string } | null }[];
  /**
   * Shell commands that finish the directory, in order: the prepare of every partition not done and
   * not at work, then `meap merge` where partitions must be merged. Null where the run did not
   * record how it was started (an older meap).
   */
  finish: string[] | null;
}

/** The status of DIR's unfinished run; null where DIR holds no work state or is finished. */
export async function runStatus(dir: string): Promise<RunStatus | null> {
  if (await fs.access(path.join(dir, MANIFEST)).then(() => true, () => false)) return null;
  const run = await readRunFile(dir);
  if (run === null) return null;
  const inputs = await Promise.all(run.inputs.map(async (p) => ({ path: p, done: (await readUnitResult(dir, p)) !== null })));
  const locks = (await partitionLocks(dir)).filter((l) => l.live);
  const of = run.command?.partitions ?? Math.max(1, ...locks.map((l) => l.of));
  const partitions = Array.from({ length: of }, (_, index) => {
    const lock = locks.find((l) => l.partition === index && l.of === of);
    return { index, done: inputs.every((x, i) => !inPartition(i, { index, of }) || x.done), heldBy: lock ? { pid: lock.pid, host: lock.host } : null };
  });
  return { settings: run.settings, inputs, partitions, finish: run.command === undefined ? null : finishCommands(dir, run.command, partitions) };
}

function finishCommands(dir: string, command: RunCommand, partitions: RunStatus['partitions']): string[] {
  const of = partitions.length;
  const todo = partitions.filter((p) => !p.done && p.heldBy === null);
  const prepares = todo.map((p) => meapCommand([...rerunArgs(command.argv), ...(of > 1 ? ['--partition', String(p.index), '--num-partitions', String(of)] : [])], command.cwd));
  // One process merges at its end; partitions leave that to `meap merge`.
  return of > 1 || partitions.every((p) => p.done) ? [...prepares, meapCommand(['merge', dir])] : prepares;
}

/**
 * The recorded command line, made safe to rerun: --overwrite would throw the finished inputs away,
 * and the partition is given afresh (a job array's came from its environment).
 */
function rerunArgs(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--overwrite' || /^--(num-)?partitions?=/.test(a)) continue;
    if (a === '--partition' || a === '--num-partitions') {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * The manifest of a finished directory. An unfinished one is refused, as readManifest refuses it,
 * with what finishes it: the command, or where `meap status` lists several.
 */
export async function readFinishedManifest(dir: string, damagedHint?: string): Promise<Manifest> {
  try {
    return await readManifest(dir, damagedHint);
  } catch (e) {
    const status = e instanceof MeapError && e.kind === 'usage' ? await runStatus(dir).catch(() => null) : null;
    if (status === null) throw e;
    const done = status.inputs.filter((x) => x.done).length;
    throw new MeapError('usage', `the directory holds an unfinished \`meap prepare\`: ${done} of ${status.inputs.length} inputs done`, { file: dir }, finishHint(dir, status));
  }
}

function finishHint(dir: string, s: RunStatus): string {
  const status = `\`${meapCommand(['status', dir])}\``;
  if (s.finish === null) return `rerun the \`meap prepare\` command that started it; ${status} shows its settings`;
  const atWork = s.partitions.filter((p) => p.heldBy !== null).map((p) => (s.partitions.length === 1 ? 'the run' : `partition ${p.index}`));
  const after = atWork.length === 0 ? '' : ` once ${atWork.join(', ')} at work in it ${atWork.length === 1 ? 'has' : 'have'} finished`;
  if (s.finish.length === 0) return `wait for ${atWork.join(', ')} at work in it; ${status} shows its progress`;
  if (s.finish.length === 1) return `finish it with \`${s.finish[0]}\`${after}`;
  return `${status} lists the ${s.finish.length} commands that finish it${after}`;
}
