/**
 * Crash-safe checkpoints: RUN_DIR/checkpoints/step-00000123/{state.json, tensors.bin}.
 *
 * tensors.bin holds every params tensor, then every m, then every v, as raw float32 little-endian
 * (bitwise exact, NaN payloads included). state.json holds everything else plus the blob's byte
 * offsets and sha256. Both are written under checkpoints/.tmp-…/, fsynced, and the directory is
 * renamed into place, so a directory with a final name is complete unless the disk corrupted it
 * later, which the sha256 catches on load.
 *
 * Writers assume one trainer per run directory: stale .tmp-* directories are deleted on load.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fsyncDir, writeSynced } from '../core/durable.ts';
import { readAt, writeAt } from '../core/file-range.ts';
import { MeapError, firstIssue } from '../core/errors.ts';
import { CHECKPOINT_TENSORS as TENSORS, CheckpointStateSchema as StateSchema, type CheckpointStateJson as StateJson } from '../schemas/checkpoint.ts';
import type { Cursor } from './data.ts';
import { LITTLE_ENDIAN, leBytes } from './le-float32.ts';

export interface CheckpointState {
  /** Optimizer steps completed. */
  step: number;
  params: { name: string; shape: number[]; data: Float32Array }[];
  optimizer: { step: number; m: Float32Array[]; v: Float32Array[] };
  cursor: Cursor;
  /** JSON-able: config, model shape, RNG state, … */
  extra: Record<string, unknown>;
}

export const CHECKPOINTS = 'checkpoints';
const STATE = 'state.json';
const TMP_PREFIX = '.tmp-';
const STEP_DIR = /^step-(\d{8,})$/;

export const stepDirName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/** Whether a name in checkpoints/ is one that saveCheckpoint writes: a step's directory or a temporary one. */
export const isCheckpointName = (name: string) => STEP_DIR.test(name) || name.startsWith(TMP_PREFIX);

/** A checkpoint directory that does not hold what its state.json says: incomplete or corrupt. */
export class DamagedCheckpoint extends Error {}

/**
 * Checkpoints this process wrote or verified, by directory and the files' identity (inode, size,
 * mtime), so pruning hashes each blob at most once yet notices a file replaced or edited since.
 */
const verified = new Map<string, string>();

async function fileIdentity(dir: string): Promise<string | null> {
  try {
    const ids = await Promise.all(
      [STATE, TENSORS].map(async (f) => {
        const st = await fs.stat(path.join(dir, f), { bigint: true });
        return `${st.ino}:${st.size}:${st.mtimeNs}`;
      }),
    );
    return ids.join('/');
  } catch {
    return null;
  }
}

async function markVerified(dir: string): Promise<void> {
  const id = await fileIdentity(dir);
  if (id !== null) verified.set(path.resolve(dir), id);
}

export async function saveCheckpoint(runDir: string, state: CheckpointState, keepLast: number): Promise<string> {
  if (!Number.isSafeInteger(state.step) || state.step < 0) throw new RangeError(`checkpoint step must be a non-negative integer, got ${state.step}`);
  if (!Number.isSafeInteger(keepLast) || keepLast < 1) throw new RangeError(`keepLast must be a positive integer, got ${keepLast}`);
  for (const p of state.params) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (n !== p.data.length) throw new RangeError(`parameter ${p.name} has shape [${p.shape}] but ${p.data.length} values`);
  }
  const root = path.join(runDir, CHECKPOINTS);
  const created = await fs.mkdir(root, { recursive: true });
  if (created !== undefined) await fsyncDir(runDir);

  const name = stepDirName(state.step);
  const tmp = path.join(root, `${TMP_PREFIX}${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    const tensors = [...state.params.map((p) => p.data), ...state.optimizer.m, ...state.optimizer.v];
    const { spans, bytes, sha256 } = await writeTensors(path.join(tmp, TENSORS), tensors);
    const np = state.params.length;
    const nm = state.optimizer.m.length;
    const json: StateJson = {
      format: 'meap-checkpoint',
      version: 1,
      step: state.step,
      cursor: { epoch: state.cursor.epoch, window: state.cursor.window, offset: state.cursor.offset },
      params: state.params.map((p, i) => ({ name: p.name, shape: [...p.shape], ...spans[i] })),
      optimizer: { step: state.optimizer.step, m: spans.slice(np, np + nm), v: spans.slice(np + nm) },
      tensors: { file: TENSORS, bytes, sha256 },
      extra: state.extra,
    };
    await writeSynced(path.join(tmp, STATE), `${JSON.stringify(json, null, 2)}\n`, 'wx');
    await fsyncDir(tmp);
    const final = path.join(root, name);
    // A directory of the same step can only be a leftover (a corrupt one skipped on resume): move it
    // aside first, since rename() will not replace a non-empty directory.
    await retire(root, name);
    await fs.rename(tmp, final);
    await fsyncDir(root);
    await markVerified(final);
    await prune(root, keepLast, name);
    return final;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
}

export async function loadLatestCheckpoint(runDir: string): Promise<CheckpointState | null> {
  const root = path.join(runDir, CHECKPOINTS);
  let names: string[];
  try {
    names = await fs.readdir(root);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  const stale = names.filter((n) => n.startsWith(TMP_PREFIX));
  for (const n of stale) await fs.rm(path.join(root, n), { recursive: true, force: true });
  if (stale.length > 0) await fsyncDir(root);
  for (const name of stepDirs(names)) {
    const dir = path.join(root, name);
    try {
      const state = await readCheckpoint(dir);
      await markVerified(dir);
      return state;
    } catch (e) {
      process.stderr.write(`meap: skipping incomplete checkpoint ${dir}: ${(e as Error).message}\n`);
    }
  }
  return null;
}

/** Final-named checkpoint directories, newest step first. */
function stepDirs(names: string[]): string[] {
  return names
    .filter((n) => STEP_DIR.test(n))
    .sort((a, b) => {
      const d = BigInt(STEP_DIR.exec(b)![1]) - BigInt(STEP_DIR.exec(a)![1]);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
}

/** Keeps the newest `keepLast` complete checkpoints; older ones and corrupt ones go. */
async function prune(root: string, keepLast: number, justSaved: string): Promise<void> {
  const names = stepDirs(await fs.readdir(root));
  let kept = 0;
  const doomed: string[] = [];
  for (const name of names) {
    const dir = path.join(root, name);
    if (kept < keepLast && (name === justSaved || (await isComplete(dir)))) kept++;
    else doomed.push(name);
  }
  for (const name of doomed) await retire(root, name);
  if (doomed.length > 0) await fsyncDir(root);
}

async function isComplete(dir: string): Promise<boolean> {
  const known = verified.get(path.resolve(dir));
  if (known !== undefined && known === (await fileIdentity(dir))) return true;
  try {
    await readCheckpoint(dir);
    await markVerified(dir);
    return true;
  } catch (e) {
    process.stderr.write(`meap: removing incomplete checkpoint ${dir}: ${(e as Error).message}\n`);
    return false;
  }
}

/** Renames first so a half-deleted directory never carries a final name. */
async function retire(root: string, name: string): Promise<void> {
  const dir = path.join(root, name);
  const aside = path.join(root, `${TMP_PREFIX}old-${name}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.rename(dir, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  verified.delete(path.resolve(dir));
  await fs.rm(aside, { recursive: true, force: true });
}

async function readCheckpoint(dir: string): Promise<CheckpointState> {
  const s = await readCheckpointState(dir);
  const data: Float32Array[] = [];
  await streamTensors(dir, s, (_, t) => {
    data.push(t);
  });
  const np = s.params.length;
  const nm = s.optimizer.m.length;
  return {
    step: s.step,
    params: s.params.map((p, i) => ({ name: p.name, shape: p.shape, data: data[i] })),
    optimizer: { step: s.optimizer.step, m: data.slice(np, np + nm), v: data.slice(np + nm) },
    cursor: s.cursor,
    extra: s.extra,
  };
}

/** The checkpoint directory of `step`, or the newest. */
export async function checkpointDir(run: string, step: number | undefined): Promise<string> {
  const dirs = await checkpointDirs(run).catch((e: NodeJS.ErrnoException) => {
    throw new MeapError('usage', `cannot read the run directory (${e.code ?? e.message})`, { file: run }, 'pass the --out directory of a `meap train` run');
  });
  if (dirs.length === 0) throw new MeapError('usage', 'no checkpoint in the run directory', { file: run }, 'train first, or pass the --out directory of a `meap train` run');
  if (step === undefined) return dirs[0];
  const dir = dirs.find((d) => path.basename(d) === stepDirName(step));
  if (dir === undefined) {
    const steps = dirs.map((d) => Number(path.basename(d).slice('step-'.length))).reverse();
    throw new MeapError('usage', `no checkpoint of step ${step}`, { file: run }, `the run has steps ${steps.join(', ')}`);
  }
  return dir;
}

/** The checkpoint of `step`, or the newest, whole: a damaged one is the user's one line. */
export async function loadCheckpoint(run: string, step: number | undefined): Promise<CheckpointState> {
  const dir = await checkpointDir(run, step);
  return readCheckpoint(dir).catch(damaged(dir));
}

/** A damaged checkpoint as the user's one line; anything else as it is. */
export const damaged = (dir: string) => (e: unknown): never => {
  throw e instanceof DamagedCheckpoint ? new MeapError('integrity', e.message, { file: dir }, 'pass --step N for another checkpoint') : e;
};

/** The final-named checkpoint directories of a run, newest step first (none: an empty list). */
export async function checkpointDirs(runDir: string): Promise<string[]> {
  const root = path.join(runDir, CHECKPOINTS);
  const names = await fs.readdir(root).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  return stepDirs(names).map((n) => path.join(root, n));
}

/** A checkpoint's state.json, checked against itself: contiguous spans, shapes that match their lengths. */
export async function readCheckpointState(dir: string): Promise<StateJson> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(path.join(dir, STATE), 'utf8'));
  } catch (e) {
    throw new DamagedCheckpoint(`cannot read ${STATE}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const parsed = StateSchema.safeParse(json);
  if (!parsed.success) {
    const { at, message } = firstIssue(parsed.error);
    throw new DamagedCheckpoint(`${STATE} does not match the schema at ${at || '(root)'}: ${message}`);
  }
  const s = parsed.data;
  let end = 0;
  for (const sp of [...s.params, ...s.optimizer.m, ...s.optimizer.v]) {
    if (sp.offset !== end) throw new DamagedCheckpoint(`${STATE}: tensor offsets are not contiguous at byte ${sp.offset}`);
    end += sp.length * 4;
  }
  if (end !== s.tensors.bytes) throw new DamagedCheckpoint(`${STATE}: tensors end at byte ${end}, but the blob is said to hold ${s.tensors.bytes}`);
  for (const p of s.params) {
    if (p.shape.reduce((a, b) => a * b, 1) !== p.length) throw new DamagedCheckpoint(`${STATE}: parameter ${p.name} has shape [${p.shape}] but ${p.length} values`);
  }
  return s;
}

async function writeTensors(file: string, tensors: Float32Array[]) {
  const hash = createHash('sha256');
  const spans: { offset: number; length: number }[] = [];
  let pos = 0;
  const fh = await fs.open(file, 'wx');
  try {
    for (const t of tensors) {
      spans.push({ offset: pos, length: t.length });
      const bytes = leBytes(t);
      hash.update(bytes);
      await writeAt(fh, bytes, pos);
      pos += bytes.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { spans, bytes: pos, sha256: hash.digest('hex') };
}

/**
 * The blob's tensors in order (params, then m, then v), one at a time: each is handed to `visit`
 * before the next is read, so a caller that keeps none holds one tensor at most. The sha256 is
 * checked after the last, so nothing made of the tensors may be published before this resolves.
 */
export async function streamTensors(dir: string, s: StateJson, visit: (index: number, t: Float32Array) => Promise<void> | void): Promise<void> {
  const spans = [...s.params, ...s.optimizer.m, ...s.optimizer.v];
  const fh = await fs.open(path.join(dir, TENSORS), 'r').catch((e: NodeJS.ErrnoException) => {
    throw new DamagedCheckpoint(`cannot open ${TENSORS}: ${e.code ?? e.message}`);
  });
  try {
    const size = (await fh.stat()).size;
    if (size !== s.tensors.bytes) throw new DamagedCheckpoint(`${TENSORS} holds ${size} bytes, ${STATE} says ${s.tensors.bytes}`);
    const hash = createHash('sha256');
    for (const [i, sp] of spans.entries()) {
      const t = new Float32Array(sp.length);
      const view = new Uint8Array(t.buffer);
      if ((await readAt(fh, view, sp.offset)) < view.length) throw new DamagedCheckpoint(`${TENSORS} ended early`);
      hash.update(view);
      if (!LITTLE_ENDIAN) view.set(leBytes(t));
      await visit(i, t);
    }
    if (hash.digest('hex') !== s.tensors.sha256) throw new DamagedCheckpoint(`${TENSORS} does not match the sha256 in ${STATE}`);
  } finally {
    await fh.close();
  }
}
