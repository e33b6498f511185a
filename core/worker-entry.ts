/**
 * A worker thread's entry as plain JavaScript: the TypeScript module and what it imports of ours,
 * bundled by esbuild (which tsx runs on too), cached by content under node_modules/.cache/meap, where
 * the packages it imports resolve. Without it every thread registers tsx, whose loader runs on a
 * thread of its own: some 40 MB a worker, which 16 workers cannot afford under 1 GB.
 *
 * Covered by test/core/worker-entry.test.ts; the pools of pipeline/tokenize/engines.ts and
 * pipeline/unit-pool.ts start every worker through it.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId } from 'node:worker_threads';
import { build } from 'esbuild';

const require = createRequire(import.meta.url);
/** The node_modules that holds esbuild, and so (hoisted or not) the packages a bundle imports. */
const cacheDir = () => path.join(path.resolve(path.dirname(require.resolve('esbuild')), '../..'), '.cache', 'meap');

const built = new Map<string, Promise<string>>();

/** The file URL a worker should load for `entry`, a .ts module URL. */
export function workerEntry(entry: URL): Promise<string> {
  const key = entry.href;
  if (!built.has(key)) built.set(key, bundle(entry));
  return built.get(key)!;
}

async function bundle(entry: URL): Promise<string> {
  const result = await build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    packages: 'external',
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
    await fs.mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.${threadId}.partial`;
    await fs.writeFile(tmp, code);
    await fs.rename(tmp, file);
  }
  return pathToFileURL(file).href;
}
