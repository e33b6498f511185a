/**
 * One engine alone on one thread (RAYON_NUM_THREADS=1 is set by the caller for native), on the texts
 * of one .jsonl file (bench/pipeline.ts writes them: the fixtures' distinct texts once, or five
 * times), read and parsed up front so that only tokenization is timed, in batches of 256 texts, one
 * pass, with a new encoder: a piece cache starts empty.
 *
 * Only the encodeBatch calls are timed. Then the ids are digested, for the anchors
 * (bench/anchors/bpe_engines.py) to prove they produced the same: per text, the first 16 hex digits
 * of the sha256 of its ids as little-endian int32; `idsSha256` is the sha256 of those lines joined
 * by "\n". With BENCH_IDS_OUT set, the per-text lines are written to that file.
 *
 *   npx tsx bench/tokenizer-alone.ts ENGINE TOKENIZER.json TEXTS.jsonl
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { createEncoder } from '../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../pipeline/tokenize/load.ts';
import type { Engine } from '../schemas/enums.ts';
import { jsonlTexts } from './fixtures.ts';

const [engine, tokenizerPath, file] = process.argv.slice(2) as [Engine, string, string];

const texts = jsonlTexts(fs.readFileSync(file, 'utf8'));
const encoder = await createEncoder(await loadTokenizer(tokenizerPath), engine, 1);
const digest = (ids: Int32Array) => createHash('sha256').update(new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength)).digest('hex').slice(0, 16);
let tokens = 0;
let textBytes = 0;
let seconds = 0;
const digests: string[] = [];
for (let i = 0; i < texts.length; i += 256) {
  const t0 = performance.now();
  const batch = await encoder.encodeBatch(texts.slice(i, i + 256));
  seconds += (performance.now() - t0) / 1000;
  for (const ids of batch) {
    tokens += ids.length;
    digests.push(digest(ids));
  }
}
for (const t of texts) textBytes += Buffer.byteLength(t);
await encoder.close();
const lines = digests.join('\n');
if (process.env.BENCH_IDS_OUT) fs.writeFileSync(process.env.BENCH_IDS_OUT, `${lines}\n`);
const idsSha256 = createHash('sha256').update(lines).digest('hex');
console.log(JSON.stringify({ engine, textMB: +(textBytes / 1e6).toFixed(1), tokens, seconds: +seconds.toFixed(2), tokensPerSec: Math.round(tokens / seconds), idsSha256 }));
