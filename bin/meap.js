#!/usr/bin/env node
// The sources are TypeScript, so the package needs no build step after `npm ci`: the command runs
// from a bundle in the cache, built at the first start after a change (load-main.js).
import { loadMain } from './load-main.js';

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

const { main } = await loadMain();
process.removeListener('SIGINT', early);
process.removeListener('SIGTERM', early);
process.exitCode = await main(process.argv);
