/**
 * The records of a `prepare` in progress, under DIR/.meap/: the run's settings (so a rerun with a
 * different configuration is refused and `merge` needs no arguments) and one completion record per
 * finished input file. Units are input files; a unit's record is written atomically only after its
 * shards are durable, so a killed run redoes at most the units it was working on.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { ipcFormatOf } from '../../datasets/shards/codec.ts';
import { SHARD_FORMAT } from '../../datasets/shards/stream.ts';
import { RunFileSchema, UnitResultSchema, type RunFile, type UnitResult } from '../../schemas/workstate.ts';
import { WORK_DIR, workDir, writeOutputFile } from './dir.ts';

const RUN_FILE = 'run.json';
const DONE = 'done';

export const unitKey = (rel: string) => sha256Hex(rel).slice(0, 16);

export async function readRunFile(dir: string): Promise<RunFile | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(workDir(dir), RUN_FILE), 'utf8');
  } catch {
    return null;
  }
  const parsed = RunFileSchema.safeParse(parseJson(text));
  if (!parsed.success) throw new MeapError('integrity', `${WORK_DIR}/${RUN_FILE} is damaged`, { file: dir }, 'pass --overwrite to start over');
  return parsed.data;
}

export async function writeRunFile(dir: string, run: RunFile): Promise<void> {
  await fs.mkdir(workDir(dir), { recursive: true });
  await writeOutputFile(dir, path.join(WORK_DIR, RUN_FILE), `${JSON.stringify(run, null, 2)}\n`);
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

/** Whether any unit of the run in DIR has finished: its completion record was written. */
export async function anyUnitDone(dir: string): Promise<boolean> {
  const names = await fs.readdir(path.join(workDir(dir), DONE)).catch(() => [] as string[]);
  return names.some((n) => n.endsWith('.json'));
}

export async function readUnitResult(dir: string, rel: string): Promise<UnitResult | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(workDir(dir), DONE, `${unitKey(rel)}.json`), 'utf8');
  } catch {
    return null;
  }
  // A record that does not parse is no record: the unit is redone.
  const parsed = UnitResultSchema.safeParse(parseJson(text));
  if (!parsed.success || parsed.data.path !== rel) return null;
  // The record is written after its shards, so a shard missing now was removed by someone else, and
  // one in another format was written by an older meap before this run resumed: redo the unit.
  for (const s of parsed.data.shards) {
    if ((await shardHead(path.join(dir, s.file))) !== SHARD_FORMAT) return null;
  }
  return parsed.data;
}

async function shardHead(file: string) {
  let handle;
  try {
    handle = await fs.open(file, 'r');
    const { buffer, bytesRead } = await handle.read({ buffer: Buffer.alloc(8), position: 0 });
    return ipcFormatOf(buffer.subarray(0, bytesRead));
  } catch {
    return null;
  } finally {
    await handle?.close();
  }
}

export async function writeUnitResult(dir: string, unit: UnitResult): Promise<void> {
  const doneDir = path.join(workDir(dir), DONE);
  await fs.mkdir(doneDir, { recursive: true });
  await writeOutputFile(dir, path.join(WORK_DIR, DONE, `${unitKey(unit.path)}.json`), `${JSON.stringify(unit)}\n`);
}

/** Unparseable JSON as undefined, which every schema refuses like any other wrong shape. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
