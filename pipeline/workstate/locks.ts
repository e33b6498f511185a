/**
 * One process per partition of a `prepare`: a lock file under DIR/.meap/locks/, created exclusively,
 * holding pid and host, and touched by a heartbeat so that a run requeued on another host can tell a
 * dead holder from a live one.
 */
import { unlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { MeapError } from '../../core/errors.ts';
import { workDir } from './dir.ts';

const LOCKS = 'locks';
const HEARTBEAT_MS = 20_000;
/** A lock from another host that has not been touched for this long belongs to a dead process. */
const STALE_MS = 120_000;

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
      await createWithContent(file, JSON.stringify(me));
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
      const holder = await readHolder(file);
      if (await isStale(file, holder)) {
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

/** A lock of a process on this host that is gone, or one from another host not touched for STALE_MS. */
async function isStale(file: string, holder: { pid?: number; host?: string }): Promise<boolean> {
  const age = Date.now() - (await fs.stat(file).then((st) => st.mtimeMs, () => 0));
  return holder.host === os.hostname() ? holder.pid === undefined || !alive(holder.pid) : age > STALE_MS;
}

export interface PartitionLock {
  partition: number;
  of: number;
  pid?: number;
  host?: string;
  /** False for a lock its holder left behind (killed): the next run of that partition takes it over. */
  live: boolean;
}

/** The partition locks in DIR, with their holders, in partition order. */
export async function partitionLocks(dir: string): Promise<PartitionLock[]> {
  const locks = path.join(workDir(dir), LOCKS);
  const out: PartitionLock[] = [];
  for (const name of await fs.readdir(locks).catch(() => [] as string[])) {
    const m = /^partition-(\d+)-of-(\d+)\.lock$/.exec(name);
    if (m === null) continue;
    const file = path.join(locks, name);
    const holder = await readHolder(file);
    out.push({ partition: Number(m[1]), of: Number(m[2]), pid: holder.pid, host: holder.host, live: !(await isStale(file, holder)) });
  }
  return out.sort((a, b) => a.partition - b.partition);
}

/** Whether any partition of DIR is held by a live process: its work state is then not ours to replace. */
export async function anyPartitionHeld(dir: string): Promise<boolean> {
  return (await partitionLocks(dir)).some((l) => l.live);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The lock appears with its content or not at all: written to a private name, then hard-linked to the
 * lock's name, which fails if the lock exists. A kill can then never leave an empty lock behind.
 */
async function createWithContent(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, text);
  try {
    await fs.link(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** What the lock says of its holder; a lock that cannot be read says nothing, and then only its age counts. */
async function readHolder(file: string): Promise<{ pid?: number; host?: string }> {
  try {
    const v: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    return v !== null && typeof v === 'object' ? (v as { pid?: number; host?: string }) : {};
  } catch {
    return {};
  }
}
