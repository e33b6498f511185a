import * as os from 'node:os';
import * as path from 'node:path';

/** Where meap keeps downloads and tokenizer copies: $MEAP_CACHE, else ~/.cache/meap. Read per call, so tests can point it elsewhere. */
export const cacheRoot = () => process.env.MEAP_CACHE || path.join(os.homedir(), '.cache', 'meap');
