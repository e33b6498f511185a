/**
 * One thread of the bpe or pure-JS engine's pool; see createPoolEncoder in engines.ts. Covered by
 * test/pipeline/tokenize/engines.test.ts, whose multi-thread runs go through this worker.
 */
import { move, workerData } from 'piscina';
import { BpeEncoder } from './bpe/encoder.ts';
import { loadBpeModel } from './bpe/model.ts';
import { buildJsTokenizer, encodeWithJs, packIds } from './js.ts';

const { engine, json } = workerData as { engine: 'js' | 'bpe'; json: string };

function bpeEncoder(): BpeEncoder {
  const load = loadBpeModel(json);
  // The caller proved this same json before starting the pool.
  if (!load.ok) throw new Error(load.why);
  return new BpeEncoder(load.model);
}

const encodeMany: (texts: string[]) => Int32Array =
  engine === 'bpe'
    ? ((bpe) => (texts) => bpe.encodeMany(texts))(bpeEncoder())
    : ((tok) => (texts) => packIds(texts.map((t) => encodeWithJs(tok, t))))(buildJsTokenizer(json));

export default function encode({ texts }: { texts: string[] }) {
  const packed = encodeMany(texts);
  // Transferred, not cloned: a batch of ids can be megabytes.
  return move(packed);
}
