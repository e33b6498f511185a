import * as os from 'node:os';
import * as path from 'node:path';
import { pathRefusal } from './errors.ts';

/** Where meap keeps downloads and tokenizer copies: $MEAP_CACHE, else ~/.cache/meap. Read per call, so tests can point it elsewhere. */
export const cacheRoot = () => process.env.MEAP_CACHE || path.join(os.homedir(), '.cache', 'meap');

/**
 * A write into the cache that the OS refused, as the user's error; any other error as it was. The
 * cache is the one path the user did not name, so the message says where it comes from: a HOME
 * that is missing or not writable is the usual case for service users and containers.
 */
export function cacheWriteError(e: unknown): unknown {
  const where = process.env.MEAP_CACHE ? `MEAP_CACHE=${process.env.MEAP_CACHE}` : `~/.cache/meap under HOME=${os.homedir()}`;
  return pathRefusal(e, `meap's cache is ${where}: set MEAP_CACHE to a writable directory`) ?? e;
}
