import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { pathRefusal } from './errors.ts';
import { makeDir } from './make-dir.ts';

// Its home is the plain JavaScript that bin/meap.js reads before TypeScript can load.
export { cacheRoot } from './stamps.js';

/**
 * A write into the cache that the OS refused, as the user's error; any other error as it was. The
 * cache is the one path the user did not name, so the message says where it comes from: a HOME
 * that is missing or not writable is the usual case for service users and containers.
 */
export function cacheWriteError(e: unknown): unknown {
  const where = process.env.MEAP_CACHE ? `MEAP_CACHE=${process.env.MEAP_CACHE}` : `~/.cache/meap under HOME=${os.homedir()}`;
  return pathRefusal(e, `meap's cache is ${where}: set MEAP_CACHE to a writable directory`) ?? e;
}

/**
 * Writes `file`, a path in the cache, whole or not at all. Another process may write the same file at
 * once: each through a name of its own, then renamed.
 */
export async function writeCacheFile(file: string, contents: Uint8Array | string): Promise<void> {
  try {
    await makeDir(path.dirname(file));
    const tmp = `${file}.${process.pid}.${threadId}.partial`;
    await fs.writeFile(tmp, contents);
    await fs.rename(tmp, file);
  } catch (e) {
    throw cacheWriteError(e);
  }
}
