/**
 * The baseline: the native tokenizer alone over the same documents (RAYON_NUM_THREADS set by the
 * caller), texts read up front so that only tokenization is timed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decompress } from 'fzstd';
import { createEncoder } from '../pipeline/tokenize/engines.ts';
import { loadTokenizer } from '../pipeline/tokenize/load.ts';
const [corpus, tokenizerPath] = process.argv.slice(2);
const tok = await loadTokenizer(tokenizerPath);
const encoder = await createEncoder(tok, 'native', Number(process.env.RAYON_NUM_THREADS ?? 1));
// Decompression and JSON parsing stay outside the timed part; copies share their parsed texts.
const parsed = new Map<string, string[]>();
const textsOf = (file: string): string[] => {
  const bytes = fs.readFileSync(path.join(corpus, file));
  const key = `${bytes.length}:${bytes.subarray(0, 256).toString('hex')}`;
  if (!parsed.has(key)) {
    const lines = new TextDecoder().decode(decompress(bytes)).split('\n').filter(Boolean);
    parsed.set(key, lines.map((l) => JSON.parse(l).text as string));
  }
  return parsed.get(key)!;
};
let tokens = 0;
let seconds = 0;
for (const file of fs.readdirSync(corpus).sort()) {
  const texts = textsOf(file);
  const t0 = performance.now();
  for (let i = 0; i < texts.length; i += 256) {
    for (const ids of await encoder.encodeBatch(texts.slice(i, i + 256))) tokens += ids.length;
  }
  seconds += (performance.now() - t0) / 1000;
}
await encoder.close();
console.log(JSON.stringify({ tokens, seconds: +seconds.toFixed(2), tokensPerSec: Math.round(tokens / seconds) }));
