/**
 * A worker thread's entry as plain JavaScript: the TypeScript module and what it imports of ours,
 * bundled by core/bundle.ts, its packages imported by absolute file URL, cached by content under
 * $MEAP_CACHE/workers (any user can write there, wherever meap is installed), with an index per entry
 * that says which bundle is fresh (core/stamps.js). Without it every thread registers tsx, whose loader runs on a thread of its own: some 40 MB a worker.
 *
 * Covered by test/core/worker-entry.test.ts; the pools of pipeline/tokenize/tokenizer-engines.ts and
 * pipeline/unit-pool.ts start every worker through workerPool.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { bundle } from './bundle.ts';
import { cacheRoot, writeCacheFile } from './cache.ts';
import { freshIndex, indexFile, stampFiles } from './stamps.js';

const cacheDir = () => path.join(cacheRoot(), 'workers');

const built = new Map<string, Promise<string>>();

/** The file URL a worker should load for `entry`, a .ts module URL. */
export function workerEntry(entry: URL): Promise<string> {
  const key = entry.href;
  if (!built.has(key)) built.set(key, build(entry));
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
  // piscina only for the commands that start threads.
  const { Piscina } = await import('piscina');
  return new Piscina({ filename: await workerEntry(entry), minThreads: threads, maxThreads: threads, workerData, execArgv: workerExecArgv(), resourceLimits });
}

async function build(entry: URL): Promise<string> {
  const source = fileURLToPath(entry);
  const name = path.basename(source, '.ts');
  // Which bundle is this entry's, for as long as no source it was built from changes: esbuild
  // (~60 ms to load, more to run) is skipped at every start but the first after an edit.
  const index = indexFile('workers', source);
  const known = freshIndex(index);
  if (typeof known?.bundle === 'string') return pathToFileURL(known.bundle).href;
  const started = Date.now();
  const { files, inputs } = await bundle({ entryPoints: [source] });
  const code = files[0].contents;
  const file = path.join(cacheDir(), `${name}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
  const exists = await fs.stat(file).then(
    (s) => s.size === code.length,
    () => false,
  );
  if (!exists) await writeCacheFile(file, code);
  const stamps = stampFiles(inputs, started, [file]);
  if (stamps !== null) await writeCacheFile(index, JSON.stringify({ inputs: stamps, bundle: file }));
  return pathToFileURL(file).href;
}
