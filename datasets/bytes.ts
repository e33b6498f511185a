/**
 * Opening input files: every reader goes through here, so that an OS failure becomes a one-line
 * InputError naming the file.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { InputError, MeapError, osReason } from '../core/errors.ts';
import type { InputFile } from './types.ts';

export function unreadable(file: InputFile, e: unknown): MeapError {
  if (e instanceof MeapError) return e;
  return new InputError('unreadableFile', `cannot read file: ${osReason(e)}`, { file: file.rel });
}

/** Opens for reading and refuses directories up front (Linux lets you open(2) one and fails on read). */
export async function openInput(file: InputFile): Promise<{ handle: fs.FileHandle; size: number }> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file.abs, fsc.O_RDONLY);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return { handle, size: st.size };
  } catch (e) {
    await handle.close().catch(() => {});
    throw unreadable(file, e);
  }
}

/**
 * The file's bytes in order. Each chunk is a fresh buffer: consumers (the line splitter, fzstd) keep
 * views into earlier chunks, so a reused read buffer would corrupt them.
 */
export async function* readBytes(
  file: InputFile,
  opts: { chunkSize?: number; onBytes?: (n: number) => void } = {},
): AsyncGenerator<Uint8Array> {
  const chunkSize = opts.chunkSize ?? 1 << 20;
  const { handle } = await openInput(file);
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkSize);
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buf, 0, chunkSize, null));
      } catch (e) {
        throw unreadable(file, e);
      }
      if (n === 0) return;
      opts.onBytes?.(n);
      yield n === chunkSize ? buf : buf.subarray(0, n);
    }
  } finally {
    await handle.close().catch(() => {});
  }
}
