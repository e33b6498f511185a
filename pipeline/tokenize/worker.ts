/**
 * One thread of the pure-JS engine's pool; see createJsPoolEncoder in engines.ts. Covered by
 * test/pipeline/tokenize/engines.test.ts, whose multi-thread JS runs go through this worker.
 */
import { move, workerData } from 'piscina';
import { buildJsTokenizer, encodeWithJs, packIds } from './js.ts';

const tok = buildJsTokenizer((workerData as { json: string }).json);

export default function encode({ texts }: { texts: string[] }) {
  const packed = packIds(texts.map((t) => encodeWithJs(tok, t)));
  // Transferred, not cloned: a batch of ids can be megabytes.
  return move(packed);
}
