/**
 * One engine alone on one thread (RAYON_NUM_THREADS=1 is set by the caller for native), texts read
 * and parsed up front so that only tokenization is timed, in batches of 256 texts, one pass:
 * - with CORPUS: every file of the pipeline bench's corpus, the text `prepare` is timed on;
 * - without: the fixtures' distinct texts once (SlimPajama-layout chunks, RedPajama arXiv, Alpaca),
 *   so the bpe engine starts with an empty piece cache and meets every piece for the first time.
 *
 * Only the encodeBatch calls are timed. Then the ids are digested, for the anchors
 * (bench/anchors/bpe_engines.py) to prove they produced the same: per text, the first 16 hex digits
 * of the sha256 of its ids as little-endian int32; `idsSha256` is the sha256 of those lines joined
 * by "\n". With BENCH_IDS_OUT set, the per-text lines are written to that file.
 *
 *   npx tsx bench/tokenizer-alone.ts ENGINE TOKENIZER.json [CORPUS]
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decompress } from 'fzstd';
import { createEncoder } from '../pipeline/tokenize/engines.ts';
import { loadTokenizer } from '../pipeline/tokenize/load.ts';
import type { Engine } from '../schemas/enums.ts';
import { distinctTexts, jsonlTexts } from './fixtures.ts';

const [engine, tokenizerPath, corpus] = process.argv.slice(2) as [Engine, string, string?];

/** Every file's texts; copies of one file share one parse. */
function corpusTexts(dir: string): string[][] {
  const parsed = new Map<string, string[]>();
  return fs
    .readdirSync(dir)
    .sort()
    .map((file) => {
      const bytes = fs.readFileSync(path.join(dir, file));
      const key = `${bytes.length}:${bytes.subarray(0, 256).toString('hex')}`;
      if (!parsed.has(key)) parsed.set(key, jsonlTexts(new TextDecoder().decode(decompress(bytes))));
      return parsed.get(key)!;
    });
}

const files = corpus === undefined ? [distinctTexts()] : corpusTexts(corpus);
const encoder = await createEncoder(await loadTokenizer(tokenizerPath), engine, 1);
const digest = (ids: Int32Array) => createHash('sha256').update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex').slice(0, 16);
let tokens = 0;
let textBytes = 0;
let seconds = 0;
const digests: string[] = [];
for (const texts of files) {
  for (let i = 0; i < texts.length; i += 256) {
    const t0 = performance.now();
    const batch = await encoder.encodeBatch(texts.slice(i, i + 256));
    seconds += (performance.now() - t0) / 1000;
    for (const ids of batch) {
      tokens += ids.length;
      digests.push(digest(ids));
    }
  }
}
for (const texts of files) for (const t of texts) textBytes += Buffer.byteLength(t);
await encoder.close();
const lines = digests.join('\n');
if (process.env.BENCH_IDS_OUT) fs.writeFileSync(process.env.BENCH_IDS_OUT, `${lines}\n`);
const idsSha256 = createHash('sha256').update(lines).digest('hex');
console.log(JSON.stringify({ engine, text: corpus === undefined ? 'distinct' : 'corpus', textMB: +(textBytes / 1e6).toFixed(1), tokens, seconds: +seconds.toFixed(2), tokensPerSec: Math.round(tokens / seconds), idsSha256 }));
