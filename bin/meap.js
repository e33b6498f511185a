#!/usr/bin/env node
// The sources are TypeScript run through tsx, so the package needs no build step after `npm ci`.
import { register } from 'tsx/esm/api';

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
register();
const { main } = await import('../cli/main.ts');
process.removeListener('SIGINT', early);
process.removeListener('SIGTERM', early);
process.exitCode = await main(process.argv);
