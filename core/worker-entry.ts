/**
 * A worker thread's entry as plain JavaScript: the TypeScript module and what it imports of ours,
 * bundled by esbuild (which tsx runs on too), its packages imported by absolute file URL, cached by
 * content under $MEAP_CACHE/workers (any user can write there, wherever meap is installed). Without
 * it every thread registers tsx, whose loader runs on a thread of its own: some 40 MB a worker.
 *
 * Covered by test/core/worker-entry.test.ts; the pools of pipeline/tokenize/engines.ts and
 * pipeline/unit-pool.ts start every worker through workerPool.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId, type ResourceLimits } from 'node:worker_threads';
import { build } from 'esbuild';
import { Piscina } from 'piscina';
import { cacheRoot, cacheWriteError } from './cache.ts';
import { makeDir } from './make-dir.ts';

const cacheDir = () => path.join(cacheRoot(), 'workers');

const built = new Map<string, Promise<string>>();

/** The file URL a worker should load for `entry`, a .ts module URL. */
export function workerEntry(entry: URL): Promise<string> {
  const key = entry.href;
  if (!built.has(key)) built.set(key, bundle(entry));
  return built.get(key)!;
}

const HOOK_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/**
 * A worker's Node options: the parent's (Node's default), unless the parent runs module hooks
 * (`--import tsx`: the tests, the bench, `npx tsx`), which a bundle does not need and which would start
 * a tsx loader thread per worker; then none. Not the parent's less its hooks: Node refuses an explicit
 * list that holds V8 options such as --max-old-space-size, which it passes on only by default.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] | undefined {
  return execArgv.some((a) => HOOK_FLAGS.has(a.split('=')[0])) ? [] : undefined;
}

/** A pool of exactly `threads` threads running `entry` (a .ts module URL), each given `workerData`. */
export async function workerPool(entry: URL, threads: number, workerData: unknown, resourceLimits?: ResourceLimits): Promise<Piscina> {
  return new Piscina({ filename: await workerEntry(entry), minThreads: threads, maxThreads: threads, workerData, execArgv: workerExecArgv(), resourceLimits });
}

async function bundle(entry: URL): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    plugins: [
      {
        name: 'packages-by-url',
        setup(b) {
          // Packages stay imports, by URL, so that the bundle loads from any directory.
          b.onResolve({ filter: /^[^./]/ }, (args) => ({ path: isBuiltin(args.path) ? args.path : import.meta.resolve(args.path), external: true }));
        },
      },
    ],
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const name = `${path.basename(entry.pathname, '.ts')}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
  const dir = cacheDir();
  const file = path.join(dir, name);
  const exists = await fs.stat(file).then(
    (s) => s.size === code.length,
    () => false,
  );
  if (!exists) {
    // Another process may write the same file at once: each through a name of its own, then renamed.
    try {
      await makeDir(dir);
      const tmp = `${file}.${process.pid}.${threadId}.partial`;
      await fs.writeFile(tmp, code);
      await fs.rename(tmp, file);
    } catch (e) {
      throw cacheWriteError(e);
    }
  }
  return pathToFileURL(file).href;
}
