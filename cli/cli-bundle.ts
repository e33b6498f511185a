/**
 * The CLI as plain JavaScript, so that a start needs neither tsx (~0.2 s to register, and every
 * module through its loader thread) nor esbuild: cli/main.ts and all it imports, bundled by
 * core/bundle.ts into $MEAP_CACHE/cli/<content hash>/, split at each lazy `import()` (the trainer,
 * tfjs) so that a command loads only its own code. bin/meap.js runs the bundle while its index is
 * fresh (core/stamps.js) and calls buildCli otherwise: after an edit, the first start builds again.
 *
 * Covered by test/e2e/fast-start.test.ts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundle } from '../core/bundle.ts';
import { cacheRoot, writeCacheFile } from '../core/cache.ts';
import { stampFiles } from '../core/stamps.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
// A bundle no index names any more (its sources were edited since) goes after a day: a process
// started from it may still import its lazy chunks.
const KEEP_UNUSED_MS = 24 * 3600 * 1000;
// ES-module packages of a hundred files and more: loaded one by one they cost prepare ~0.2 s, inlined ~0.05 s.
const INLINE = new Set(['zod', 'apache-arrow']);

/** Builds the CLI's bundle and its index, the file bin/meap.js reads (JSON: inputs, main); the file URL of the module to run. */
export async function buildCli(index: string): Promise<string> {
  const started = Date.now();
  const outdir = path.join(cacheRoot(), 'cli');
  const { files, inputs } = await bundle({
    entryPoints: [MAIN],
    splitting: true,
    outdir,
    outExtension: { '.js': '.mjs' },
    inline: INLINE,
  });
  const hash = createHash('sha256');
  for (const f of files) hash.update(path.relative(outdir, f.path)).update(f.contents);
  const dir = path.join(outdir, hash.digest('hex').slice(0, 16));
  const written = files.map((f) => path.join(dir, path.relative(outdir, f.path)));
  await Promise.all(files.map((f, i) => writeCacheFile(written[i], f.contents)));
  const main = path.join(dir, 'main.mjs');
  const stamps = stampFiles(inputs, started, written);
  if (stamps !== null) await writeCacheFile(index, JSON.stringify({ inputs: stamps, main }));
  await prune(outdir).catch(() => {});
  return pathToFileURL(main).href;
}

async function prune(outdir: string): Promise<void> {
  const entries = await fs.readdir(outdir, { withFileTypes: true });
  const named = new Set<string>();
  for (const e of entries.filter((e) => e.isFile() && e.name.endsWith('.json'))) {
    const index = JSON.parse(await fs.readFile(path.join(outdir, e.name), 'utf8').catch(() => '{}')) as { main?: unknown };
    if (typeof index.main === 'string') named.add(path.dirname(index.main));
  }
  for (const e of entries.filter((e) => e.isDirectory())) {
    const dir = path.join(outdir, e.name);
    if (!named.has(dir) && Date.now() - (await fs.stat(dir)).mtimeMs > KEEP_UNUSED_MS) await fs.rm(dir, { recursive: true, force: true });
  }
}
