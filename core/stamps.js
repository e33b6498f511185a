/**
 * Whether a cached bundle still matches the sources it was built from, known without reading them:
 * each source's size, mtime and ctime as they were at the build. An edit, a `git checkout` or an
 * `npm ci` changes at least the ctime of what it writes (npm sets every mtime to 1985, but cannot set
 * a ctime), so a changed source is never missed; a touch without a change only costs a rebuild.
 *
 * Plain JavaScript, because bin/meap.js asks it (and where the cache is) before anything can load TypeScript; the worker
 * bundles (core/worker-entry.ts) and the CLI's (cli/cli-bundle.ts) write their indexes through it.
 * Covered by test/core/stamps.test.ts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Where meap keeps downloads, tokenizer copies and bundles: $MEAP_CACHE, else ~/.cache/meap. Read per call, so tests can point it elsewhere. */
export const cacheRoot = () => process.env.MEAP_CACHE || path.join(os.homedir(), '.cache', 'meap');

/**
 * The index of the bundle of `source` (an absolute .ts path) in the cache's `dir`: one per source
 * path, so that two checkouts of meap never take each other's bundles.
 * @param {string} dir
 * @param {string} source
 */
export function indexFile(dir, source) {
  return path.join(cacheRoot(), dir, `${path.basename(source, '.ts')}-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.json`);
}

/**
 * The stamps of a build's `inputs` and `outputs` (absolute paths), read after the build that began at
 * `startedMs` (Date.now()), or null when an input changed since then: the build may have read it
 * before the change, so it must not be vouched for. File times come from the kernel's coarse clock, which may lag Date.now() by a
 * tick, hence the margin: a file changed in the two seconds before a build is left for the next one.
 * @param {readonly string[]} inputs
 * @param {number} startedMs
 * @param {readonly string[]} outputs
 */
export function stampFiles(inputs, startedMs, outputs = []) {
  const stamp = (file) => {
    const s = fs.statSync(file);
    return [file, s.size, s.mtimeMs, s.ctimeMs];
  };
  const stamps = inputs.map(stamp);
  const since = startedMs - 2000;
  return stamps.some((s) => s[2] >= since || s[3] >= since) ? null : [...stamps, ...outputs.map(stamp)];
}

/**
 * The index at `file` (JSON: `{ inputs: stamps, ... }`) when every file it stamps is unchanged, else
 * null: also when it is missing, unreadable or not what this module wrote, so the caller rebuilds.
 * @param {string} file
 */
export function freshIndex(file) {
  let index;
  try {
    index = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(index?.inputs) || index.inputs.length === 0) return null;
  for (const stamp of index.inputs) {
    if (!Array.isArray(stamp) || stamp.length !== 4) return null;
    const s = fs.statSync(stamp[0], { throwIfNoEntry: false });
    if (s === undefined || s.size !== stamp[1] || s.mtimeMs !== stamp[2] || s.ctimeMs !== stamp[3]) return null;
  }
  return index;
}
