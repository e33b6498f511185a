/**
 * The pipeline bench's corpus: text that a piece cache keeps meeting for the first time, as a real
 * crawl's long tail does, in the fixtures' several scripts. Each file holds 8 MB of text: the
 * fixtures' documents (SlimPajama-layout chunks, RedPajama arXiv) drawn at random, with a sixth of
 * their words of four letters or more misspelt (two inner letters swapped), so that new pieces turn
 * up in every file. Plain JSONL in SlimPajama's record layout. Deterministic: the same files on every
 * machine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixtureTexts } from './fixtures.ts';

export const FILE_TEXT_BYTES = 8e6;
const MISSPELT = 1 / 6;

/** xorshift32: a seeded stream of floats in [0, 1), the same on every machine. */
function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

/** Writes `files` files into `dir`; returns the bytes of text they hold. */
export function writeColdCorpus(dir: string, files: number): number {
  const docs = [...fixtureTexts('slimpajama/chunk_0.jsonl'), ...fixtureTexts('slimpajama/chunk_1.jsonl'), ...fixtureTexts('redpajama/arxiv20.jsonl')];
  const rnd = random(21);
  const misspell = (text: string) =>
    text.replace(/\p{L}{4,}/gu, (word) => {
      if (rnd() >= MISSPELT) return word;
      const letters = [...word];
      const i = 1 + Math.floor(rnd() * (letters.length - 2));
      if (i + 1 >= letters.length) return word;
      [letters[i], letters[i + 1]] = [letters[i + 1], letters[i]];
      return letters.join('');
    });
  let total = 0;
  for (let f = 0; f < files; f++) {
    const lines: string[] = [];
    let bytes = 0;
    while (bytes < FILE_TEXT_BYTES) {
      const text = misspell(docs[Math.floor(rnd() * docs.length)]);
      lines.push(JSON.stringify({ text, meta: { redpajama_set_name: 'Bench' } }));
      bytes += Buffer.byteLength(text);
    }
    fs.writeFileSync(path.join(dir, `part${String(f).padStart(3, '0')}.jsonl`), `${lines.join('\n')}\n`);
    total += bytes;
  }
  return total;
}
