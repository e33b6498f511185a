/**
 * The experiment's retrieval documents (bench/needle-corpus.ts) with its shipped tokenizer: each row's
 * documents fill exactly `seqLen` tokens, none shares a key or value with the evaluation, each ends in
 * its answer after its question, and the same seed gives the same lines. Also that meap's bpe engine
 * gives the shipped tokenizer Hugging Face's ids (the Rust `tokenizers` engine).
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalNeedles, MIN_DOC_TOKENS, retrievalCorpus } from '../../bench/needle-corpus.ts';
import { fixtureTexts } from '../../bench/fixtures.ts';
import { createDecoder } from '../../pipeline/tokenize/decode.ts';
import type { Encoder } from '../../pipeline/tokenize/encoder.ts';
import { createEncoder } from '../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer, type LoadedTokenizer } from '../../pipeline/tokenize/load.ts';

const TOKENIZER = path.resolve(import.meta.dirname, '../../samples/needle-tokenizer/tokenizer.json');
const SEQ_LEN = 256;

describe('retrieval corpus of experiment:needle', () => {
  let tok: LoadedTokenizer;
  let encoder: Encoder;
  const haystack = fixtureTexts('slimpajama/chunk_0.jsonl').join('\n\n');
  const encode = async (text: string) => (await encoder.encodeBatch([text]))[0];
  beforeAll(async () => {
    tok = await loadTokenizer(TOKENIZER, {});
    encoder = await createEncoder(tok, 'bpe', 1);
  });
  afterAll(() => encoder.close());

  const build = async (seed: number) => {
    const decoder = await createDecoder(tok);
    return retrievalCorpus({ encode, decode: (ids) => decoder.decode(ids), haystack, seqLen: SEQ_LEN, rows: 12, avoid: evalNeedles(0, 176), seed });
  };

  it('fills each row exactly, keeps the evaluation keys and values out, ends each document in its answer', async () => {
    const corpus = await build(0);
    const avoid = evalNeedles(0, 176);
    let filled = 0;
    for (const line of corpus.lines) {
      const { text } = JSON.parse(line) as { text: string };
      const m = /The special magic number for ([a-z]+-[a-z]+) is (\d{7})\./.exec(text);
      expect(m, text).not.toBeNull();
      const [, key, value] = m!;
      expect(text.endsWith(`What is the special magic number for ${key}? The special magic number for ${key} is ${value}`)).toBe(true);
      expect(avoid.some((n) => n.needle.includes(` ${key} `) || n.answer === ` ${value}`)).toBe(false);
      // BOS and EOS, as prepare frames a document.
      const tokens = (await encode(text)).length + 2;
      expect(tokens).toBeGreaterThanOrEqual(MIN_DOC_TOKENS);
      // A document never crosses a row's end.
      expect(Math.floor(filled / SEQ_LEN)).toBe(Math.floor((filled + tokens - 1) / SEQ_LEN));
      filled += tokens;
    }
    expect(filled).toBe(12 * SEQ_LEN);
    expect(corpus.documents).toBe(corpus.lines.length);
  });

  it('is the same for the same seed and differs for another', async () => {
    expect((await build(0)).lines).toEqual((await build(0)).lines);
    expect((await build(1)).lines).not.toEqual((await build(0)).lines);
  });

  it("gives the shipped tokenizer Hugging Face's ids", async () => {
    const native = await createEncoder(tok, 'native', 1);
    try {
      const texts = fixtureTexts('slimpajama/chunk_1.jsonl').slice(0, 40);
      expect(await encoder.encodeBatch(texts)).toEqual(await native.encodeBatch(texts));
    } finally {
      await native.close();
    }
  });
});
