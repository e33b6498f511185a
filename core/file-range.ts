/**
 * A whole range of a file at a position, in bounded calls: one read or write call cannot move 2 GiB,
 * and any call may move fewer bytes than asked. The tensor files (a checkpoint's blob, safetensors)
 * hold tensors past that size; Parquet pages are read the same way.
 */
import type { FileHandle } from 'node:fs/promises';

const CHUNK = 64 << 20;

/** Fills `into` from `position` on; returns the bytes read, fewer than asked only where the file ends. */
export async function readAt(fh: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, Math.min(CHUNK, into.length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Writes all of `bytes` at `position`. */
export async function writeAt(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(CHUNK, bytes.length - done), position + done);
    done += bytesWritten;
  }
}
