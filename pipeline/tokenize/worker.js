// Node 20 worker threads cannot load TypeScript through execArgv, but a registered tsx loader works.
// Covered by test/pipeline/tokenize/engines.test.ts, whose multi-thread JS runs start here.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./worker.ts');

export default worker.default;
