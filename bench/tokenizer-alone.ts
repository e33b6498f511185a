/**
 * One engine alone on one thread (RAYON_NUM_THREADS=1 is set by the caller for native), texts read
 * and parsed up front so that only tokenization is timed, in batches of 256 texts, one pass:
 * - with CORPUS: every file of the pipeline bench's corpus, the text `prepare` is timed on;
 * - without: the fixtures' distinct texts once (SlimPajama-layout chunks, RedPajama arXiv, Alpaca),
 *   so the bpe engine starts with an empty piece cache and meets every piece for the first time.
 *
 *   npx tsx bench/tokenizer-alone.ts ENGINE TOKENIZER.json [CORPUS]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decompress } from 'fzstd';
import { createEncoder } from '../pipeline/tokenize/engines.ts';
import { loadTokenizer } from '../pipeline/tokenize/load.ts';
import type { Engine } from '../schemas/enums.ts';
import { FIXTURES, fixtureTexts, jsonlTexts } from './fixtures.ts';

const [engine, tokenizerPath, corpus] = process.argv.slice(2) as [Engine, string, string?];

function distinctTexts(): string[] {
  const alpaca = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'alpaca/alpaca_head128.json'), 'utf8')) as Array<Record<string, string>>;
  return [...fixtureTexts('slimpajama/chunk_0.jsonl'), ...fixtureTexts('slimpajama/chunk_1.jsonl'), ...fixtureTexts('redpajama/arxiv20.jsonl'), ...alpaca.flatMap((r) => [r.instruction, r.input, r.output])];
}

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
let tokens = 0;
let textBytes = 0;
const t0 = performance.now();
for (const texts of files) {
  for (let i = 0; i < texts.length; i += 256) for (const ids of await encoder.encodeBatch(texts.slice(i, i + 256))) tokens += ids.length;
}
const seconds = (performance.now() - t0) / 1000;
for (const texts of files) for (const t of texts) textBytes += Buffer.byteLength(t);
await encoder.close();
console.log(JSON.stringify({ engine, text: corpus === undefined ? 'distinct' : 'corpus', textMB: +(textBytes / 1e6).toFixed(1), tokens, seconds: +seconds.toFixed(2), tokensPerSec: Math.round(tokens / seconds) }));
