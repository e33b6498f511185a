/**
 * Work state of a `prepare` in progress, under DIR/.meap/: the run's settings (so a rerun with a
 * different configuration is refused and `merge` needs no arguments), one completion record per
 * finished input file, and one lock per partition. Units are input files; a unit's record is
 * written atomically only after its shards are durable, so a killed run redoes at most the units
 * it was working on.
 */
import { unlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { ShardEntrySchema } from '../schemas/manifest.ts';
import { MeapError } from './errors.ts';
import { WORK_DIR, sha256Hex, writeFileAtomic } from './shards.ts';

/** Everything that decides the output bytes; --workers, --engine and --progress do not. */
export const RunSettingsSchema = z.object({
  mode: z.enum(['pretrain', 'sft']),
  format: z.string().nullable(),
  textField: z.string(),
  excludeSets: z.array(z.string()),
  limit: z.number().nullable(),
  bos: z.boolean(),
  eos: z.boolean(),
  seqLen: z.number(),
  mask: z.string(),
  maskRatio: z.number(),
  spanLength: z.number().nullable(),
  seed: z.number(),
  shardRows: z.number(),
  onError: z.string(),
  maxDocChars: z.number(),
  template: z.string().nullable(),
  templateSha256: z.string().nullable(),
  minAnswerTokens: z.number().nullable(),
  sftLayout: z.string().nullable(),
  pack: z.boolean().nullable(),
  tokenizer: z.object({
    sha256: z.string(),
    vocabSize: z.number(),
    maskTokenId: z.number(),
    bosId: z.number().nullable(),
    eosId: z.number().nullable(),
  }),
});
export type RunSettings = z.infer<typeof RunSettingsSchema>;

const RunFileSchema = z.object({ settings: RunSettingsSchema, inputs: z.array(z.string()) });
export type RunFile = z.infer<typeof RunFileSchema>;

export const UnitResultSchema = z.object({
  path: z.string(),
  sha256: z.string(),
  read: z.object({ records: z.number(), items: z.number(), skipped: z.record(z.string(), z.number()) }),
  shards: z.array(ShardEntrySchema),
  counts: z.record(z.string(), z.number()),
  skipped: z.record(z.string(), z.number()),
});
export type UnitResult = z.infer<typeof UnitResultSchema>;

const RUN_FILE = 'run.json';
const HEARTBEAT_MS = 20_000;
/** A lock from another host that has not been touched for this long belongs to a dead process. */
const STALE_MS = 120_000;
const DONE = 'done';
const LOCKS = 'locks';

const workDir = (dir: string) => path.join(dir, WORK_DIR);
export const unitKey = (rel: string) => sha256Hex(rel).slice(0, 16);

export async function readRunFile(dir: string): Promise<RunFile | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(workDir(dir), RUN_FILE), 'utf8');
  } catch {
    return null;
  }
  const parsed = RunFileSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new MeapError('integrity', `${WORK_DIR}/${RUN_FILE} is damaged`, { file: dir }, 'pass --overwrite to start over');
  return parsed.data;
}

export async function writeRunFile(dir: string, run: RunFile): Promise<void> {
  await fs.mkdir(workDir(dir), { recursive: true });
  await writeFileAtomic(workDir(dir), RUN_FILE, `${JSON.stringify(run, null, 2)}\n`);
}

/** The first setting that differs, as "key: here X, there Y"; null when they agree. */
export function describeDifference(a: unknown, b: unknown, at = ''): string | null {
  if (JSON.stringify(a) === JSON.stringify(b)) return null;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = describeDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], at ? `${at}.${k}` : k);
      if (d !== null) return d;
    }
  }
  const show = (v: unknown) => (Array.isArray(v) && v.length > 4 ? `[${v.length} entries]` : JSON.stringify(v) ?? 'none');
  return `${at || 'settings'}: this command gives ${show(a)}, the directory has ${show(b)}`;
}

export async function readUnitResult(dir: string, rel: string): Promise<UnitResult | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(workDir(dir), DONE, `${unitKey(rel)}.json`), 'utf8');
  } catch {
    return null;
  }
  const parsed = UnitResultSchema.safeParse(JSON.parse(text));
  if (!parsed.success || parsed.data.path !== rel) return null;
  // The record is written after its shards, so a shard missing now was removed by someone else: redo the unit.
  for (const s of parsed.data.shards) {
    try {
      await fs.access(path.join(dir, s.file));
    } catch {
      return null;
    }
  }
  return parsed.data;
}

export async function writeUnitResult(dir: string, unit: UnitResult): Promise<void> {
  const doneDir = path.join(workDir(dir), DONE);
  await fs.mkdir(doneDir, { recursive: true });
  await writeFileAtomic(doneDir, `${unitKey(unit.path)}.json`, `${JSON.stringify(unit)}\n`);
}

/**
 * One process per partition: a lock file created exclusively, holding pid and host. A lock whose
 * process is gone (same host, no such pid) is stale and taken over, so a SIGKILLed run can rerun.
 */
export async function lockPartition(dir: string, partition: number, of: number): Promise<() => void> {
  const locks = path.join(workDir(dir), LOCKS);
  await fs.mkdir(locks, { recursive: true });
  const file = path.join(locks, `partition-${partition}-of-${of}.lock`);
  const me = { pid: process.pid, host: os.hostname() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, JSON.stringify(me), { flag: 'wx' });
      // The holder touches its lock so that a run requeued on another host can tell a dead holder
      // (no heartbeat) from a live one.
      const heartbeat = setInterval(() => {
        const now = new Date();
        fs.utimes(file, now, now).catch(() => {});
      }, HEARTBEAT_MS);
      heartbeat.unref();
      const release = () => {
        clearInterval(heartbeat);
        try {
          unlinkSync(file);
        } catch {
          // Already gone (merge removed the work directory).
        }
      };
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{}')) as { pid?: number; host?: string };
      const age = Date.now() - (await fs.stat(file).then((st) => st.mtimeMs, () => 0));
      const dead = holder.host === me.host ? holder.pid === undefined || !alive(holder.pid) : age > STALE_MS;
      if (dead) {
        await fs.rm(file, { force: true });
        continue;
      }
      throw new MeapError(
        'usage',
        `partition ${partition} of ${of} is being prepared into this directory by process ${holder.pid ?? '?'} on ${holder.host ?? '?'}`,
        { file: dir },
        'wait for it to finish, or stop it and rerun this command to resume',
      );
    }
  }
  throw new MeapError('usage', `cannot take the lock of partition ${partition}`, { file: dir });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}


export async function removeWorkDir(dir: string): Promise<void> {
  await fs.rm(workDir(dir), { recursive: true, force: true });
}

/** Partition from the flags, else from a Slurm job array or a Kubernetes Indexed Job. */
export function resolvePartition(flags: { numPartitions?: number; partition?: number }, env: NodeJS.ProcessEnv = process.env): { index: number; of: number } {
  let of = flags.numPartitions;
  let index = flags.partition;
  if (index === undefined && env.SLURM_ARRAY_TASK_ID !== undefined) {
    index = Number(env.SLURM_ARRAY_TASK_ID) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    of ??= Number(env.SLURM_ARRAY_TASK_COUNT);
  } else if (index === undefined && env.JOB_COMPLETION_INDEX !== undefined) {
    index = Number(env.JOB_COMPLETION_INDEX);
  }
  of ??= 1;
  index ??= 0;
  if (!Number.isInteger(of) || of < 1) throw new MeapError('usage', `the number of partitions must be a whole number ≥ 1, got ${of}`, {}, 'pass --num-partitions N (SLURM_ARRAY_TASK_COUNT sets it in a job array)');
  if (!Number.isInteger(index) || index < 0 || index >= of) {
    throw new MeapError('usage', `partition ${index} is not in 0..${of - 1}`, {}, 'pass --partition I with 0 <= I < --num-partitions');
  }
  return { index, of };
}
