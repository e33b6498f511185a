import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lockPartition } from '../../../pipeline/workstate/locks.ts';
import { tempDir } from '../../helpers/cli.ts';
import { usageError } from '../helpers.ts';

const lockFile = (dir: string, partition: number, of: number) => path.join(dir, '.meap/locks', `partition-${partition}-of-${of}.lock`);
const holder = (dir: string, partition: number, of: number) => JSON.parse(fs.readFileSync(lockFile(dir, partition, of), 'utf8'));

function plant(dir: string, partition: number, of: number, content: { pid: number; host: string }, ageMs = 0) {
  const file = lockFile(dir, partition, of);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(content));
  const then = new Date(Date.now() - ageMs);
  fs.utimesSync(file, then, then);
}


/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('lockPartition', () => {
  it('writes our pid and host, and removes the lock on release', async () => {
    const dir = tempDir();
    const release = await lockPartition(dir, 0, 2);
    expect(holder(dir, 0, 2)).toEqual({ pid: process.pid, host: os.hostname() });
    release();
    expect(fs.existsSync(lockFile(dir, 0, 2))).toBe(false);
    // Released means free: the same partition can be taken again.
    (await lockPartition(dir, 0, 2))();
  });

  it('refuses a partition held by a live process on this host, naming it, and leaves other partitions free', async () => {
    const dir = tempDir();
    const release = await lockPartition(dir, 0, 2);
    try {
      const e = await usageError(lockPartition(dir, 0, 2));
      expect(e.message).toContain(`partition 0 of 2 is being prepared into this directory by process ${process.pid} on ${os.hostname()}`);
      (await lockPartition(dir, 1, 2))();
      // Partition 0 of another partitioning is another lock.
      (await lockPartition(dir, 0, 3))();
    } finally {
      release();
    }
  });

  it('takes over a lock whose process on this host is gone', async () => {
    const dir = tempDir();
    plant(dir, 0, 1, { pid: deadPid(), host: os.hostname() });
    const release = await lockPartition(dir, 0, 1);
    expect(holder(dir, 0, 1)).toEqual({ pid: process.pid, host: os.hostname() });
    release();
  });

  it('trusts a lock from another host while its heartbeat is recent, and takes it over once stale', async () => {
    const dir = tempDir();
    // Its pid means nothing here; only the lock's age can tell.
    plant(dir, 0, 1, { pid: process.pid, host: 'node-elsewhere' }, 5_000);
    const e = await usageError(lockPartition(dir, 0, 1));
    expect(e.message).toContain(`by process ${process.pid} on node-elsewhere`);
    plant(dir, 0, 1, { pid: process.pid, host: 'node-elsewhere' }, 10 * 60_000);
    const release = await lockPartition(dir, 0, 1);
    expect(holder(dir, 0, 1).host).toBe(os.hostname());
    release();
  });

  it('never leaves an empty lock, and an unreadable one counts by its age alone, not as a crash', async () => {
    const dir = tempDir();
    (await lockPartition(dir, 0, 1))();
    expect(fs.readdirSync(path.dirname(lockFile(dir, 0, 1)))).toEqual([]);
    const file = lockFile(dir, 0, 1);
    fs.writeFileSync(file, '');
    const e = await usageError(lockPartition(dir, 0, 1));
    expect(e.message).toContain('by process ? on ?');
    const old = new Date(Date.now() - 10 * 60_000);
    fs.utimesSync(file, old, old);
    (await lockPartition(dir, 0, 1))();
  });
});
