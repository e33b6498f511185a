/**
 * One thread of the bpe or pure-JS engine's pool; see createPoolEncoder in engines.ts. Covered by
 * test/pipeline/tokenize/tokenizer-engines.test.ts, whose multi-thread runs go through this worker.
 */
import { move, workerData } from 'piscina';
import { BpeEncoder, cacheLimits } from './bpe/bpe-encoder.ts';
import type { BpeModel } from './bpe/bpe-model.ts';
import { packIds } from './ids.ts';
import { buildJsTokenizer, encodeWithJs } from './js.ts';

/** The bpe engine's tables arrive on shared memory, proven by the caller; the JS engine builds from tokenizer.json. */
export type PoolData = { engine: 'bpe'; model: BpeModel; threads: number } | { engine: 'js'; json: string };

const data = workerData as PoolData;

const encodeMany: (texts: string[]) => Int32Array =
  data.engine === 'bpe'
    ? ((bpe) => (texts) => bpe.encodeMany(texts))(new BpeEncoder(data.model, cacheLimits(data.threads)))
    : ((tok) => (texts) => packIds(texts.map((t) => encodeWithJs(tok, t))))(buildJsTokenizer(data.json));

export default function encode({ texts }: { texts: string[] }) {
  const packed = encodeMany(texts);
  // Transferred, not cloned: a batch of ids can be megabytes.
  return move(packed);
}
