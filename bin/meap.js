#!/usr/bin/env node
// The sources are TypeScript, so the package needs no build step after `npm ci`: they run from a
// bundle in the cache (cli/bundle.ts) while no source has changed since it was built, else the first
// start builds it again, through tsx; where the cache cannot be written, tsx runs the sources.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freshIndex, indexFile } from '../core/stamps.js';

// A signal during start-up (before the CLI installs its own handlers) still exits 130/143.
const early = (signal) => process.exit(signal === 'SIGINT' ? 130 : 143);
process.once('SIGINT', early);
process.once('SIGTERM', early);
// `meap inspect DIR | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

async function loadMain() {
  const index = indexFile('cli', fileURLToPath(new URL('../cli/main.ts', import.meta.url)));
  const fresh = freshIndex(index);
  if (typeof fresh?.main === 'string') return import(pathToFileURL(fresh.main).href);
  const { register } = await import('tsx/esm/api');
  register();
  const { buildCli } = await import('../cli/bundle.ts');
  // A refused cache or a source esbuild cannot compile: tsx runs the sources, and says what is wrong.
  const built = await buildCli(index).catch(() => '../cli/main.ts');
  return import(built);
}

const { main } = await loadMain();
process.removeListener('SIGINT', early);
process.removeListener('SIGTERM', early);
process.exitCode = await main(process.argv);
