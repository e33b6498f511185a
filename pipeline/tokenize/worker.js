// Node 20 worker threads cannot load TypeScript through execArgv, but a registered tsx loader works.
import { register } from 'tsx/esm/api';

register();
const worker = await import('./worker.ts');

export default worker.default;
