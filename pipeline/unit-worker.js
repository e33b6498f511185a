// Node 20 worker threads cannot load TypeScript through execArgv, but a registered tsx loader works.
// Covered by test/e2e/prepare.test.ts, whose multi-file runs with several workers start here.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./unit-worker.ts');

export default worker.default;
