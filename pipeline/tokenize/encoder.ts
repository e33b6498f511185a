/**
 * What every engine is to its callers, and the bpe engine in the calling thread: no pool, no other
 * engine's library loaded, as a unit worker wants it. Covered by test/pipeline/tokenize/engines.test.ts.
 */
import { BpeEncoder } from './bpe/encoder.ts';
import type { BpeModel } from './bpe/model.ts';
import { unpackIds } from './ids.ts';

export interface Encoder {
  encodeBatch(texts: string[]): Promise<Int32Array[]>;
  close(): Promise<void>;
}

export function bpeEncoder(model: BpeModel): Encoder {
  const bpe = new BpeEncoder(model);
  return {
    async encodeBatch(texts) {
      return unpackIds(bpe.encodeMany(texts));
    },
    async close() {},
  };
}
