/**
 * What every engine is to its callers, and the bpe engine in the calling thread: no pool, no other
 * engine's library loaded, as a unit worker wants it. Covered by test/pipeline/tokenize/tokenizer-engines.test.ts.
 */
import { BpeEncoder, cacheLimits } from './bpe/bpe-encoder.ts';
import type { BpeModel } from './bpe/bpe-model.ts';
import { unpackIds } from './ids.ts';

export interface Encoder {
  encodeBatch(texts: string[]): Promise<Int32Array[]>;
  close(): Promise<void>;
}

/** `threads`: how many encoders run at once, which share the memory of their piece caches. */
export function bpeEncoder(model: BpeModel, threads = 1): Encoder {
  const bpe = new BpeEncoder(model, cacheLimits(threads));
  return {
    async encodeBatch(texts) {
      return unpackIds(bpe.encodeMany(texts));
    },
    async close() {},
  };
}
