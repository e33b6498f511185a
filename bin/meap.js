#!/usr/bin/env node
// The sources are TypeScript run through tsx, so the package needs no build step after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../pipeline/cli.ts');
process.exitCode = await main(process.argv);
