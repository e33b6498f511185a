/**
 * Durable writes: a file is written under a temporary name, fsynced, renamed into place and its
 * directory fsynced, so a file that carries its final name is always complete, whatever kills the
 * process or the machine in between.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';

/** `tmpDir` must be on the same file system as `dir`, so that the rename is atomic. */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array | string, tmpDir: string): Promise<void> {
  const file = await createFileAtomic(dir, name, tmpDir);
  await file.append([typeof bytes === 'string' ? Buffer.from(bytes) : bytes]);
  await file.commit();
}

/** A file written in pieces that appears under its name, complete, only on `commit`. */
export interface AtomicFile {
  /** The pieces in order, in one writev: no copy into one buffer. */
  append(parts: readonly Uint8Array[]): Promise<void>;
  /** fsync, rename into place, fsync the directory. */
  commit(): Promise<void>;
}

export async function createFileAtomic(dir: string, name: string, tmpDir: string): Promise<AtomicFile> {
  await fs.mkdir(tmpDir, { recursive: true });
  // Named by process and thread too: partitions of one run (Slurm array tasks) may write the same file
  // (run.json) at once, and a shared temporary name lets one rename the other's away mid-write.
  const tmp = path.join(tmpDir, `${name}.${process.pid}.${threadId}.partial`);
  const fh = await fs.open(tmp, 'w');
  return {
    // libuv writes every piece, in batches of IOV_MAX, retrying short writes.
    append: async (parts) => {
      await fh.writev(parts as Uint8Array[]);
    },
    commit: async () => {
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, path.join(dir, name));
      await fsyncDir(dir);
    },
  };
}

/** Writes and fsyncs a file; `flag` 'wx' refuses to replace an existing one. */
export async function writeSynced(file: string, bytes: Uint8Array | string, flag: 'w' | 'wx' = 'w'): Promise<void> {
  const fh = await fs.open(file, flag);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A rename or a new entry is durable only once its directory is synced too. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
