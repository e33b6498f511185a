/**
 * Needle prompts on the Llama-2, GPT-2 and Llama-3 tokenizers (the bpe engine, whose ids equal
 * Hugging Face's: test/pipeline/tokenize/bpe/bpe-encoder.test.ts): exact lengths, the needle at its depth,
 * the answer's ids the same alone as after the question, the same prompts for the same seed, and a
 * short haystack refused in one line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { buildPrompt, magicNumber, NEAR_CHARS, type EncodeText } from '../../pipeline/needle.ts';
import type { Encoder } from '../../pipeline/tokenize/encoder.ts';
import { createEncoder } from '../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../../pipeline/tokenize/load.ts';
import { FIX, LLAMA3, TOK } from './tokenize/helpers.ts';

const HAYSTACK = readFileSync(join(FIX, 'slimpajama/chunk_0.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => (JSON.parse(l) as { text: string }).text)
  .join('\n\n');

/** Whether the answer's ids alone are those of its text with the leading space (byte-level) or without it (a prepended ▁ stands for it). */
const TOKENIZERS = [
  { name: 'llama2', path: TOK.llama2, answerAlone: (a: string) => a.trimStart() },
  { name: 'gpt2', path: TOK.gpt2, answerAlone: (a: string) => a },
  { name: 'llama3', path: LLAMA3, answerAlone: (a: string) => a },
];

describe.each(TOKENIZERS)('needle prompts, $name', ({ path, answerAlone }) => {
  let encoder: Encoder;
  let encode: EncodeText;
  let bos: number | null;
  beforeAll(async () => {
    const tok = await loadTokenizer(path);
    bos = tok.specials.bosId;
    encoder = await createEncoder(tok, 'bpe', 1);
    encode = async (text) => (await encoder.encodeBatch([text]))[0];
  });
  afterAll(() => encoder.close());

  it('is exactly `length` tokens: BOS, the context cut at a token boundary, the question; the needle whole, at its depth', async () => {
    for (const length of [128, 1000, 2048]) {
      for (const depth of [0, 10, 50, 90, 100]) {
        const spec = magicNumber(0, depth);
        const p = await buildPrompt(encode, bos, HAYSTACK, length, depth, spec);
        const where = `length ${length}, depth ${depth}`;
        const head = bos === null ? 0 : 1;
        expect(p.ids.length, where).toBe(length);
        if (bos !== null) expect(p.ids[0]).toBe(bos);
        const question = (await encode(`text\n\n${spec.question}`)).slice((await encode('text')).length);
        expect([...p.ids.slice(length - question.length)], where).toEqual([...question]);
        // After the text before it; at depth 0 it opens the context.
        const needle = depth === 0 ? await encode(spec.needle) : (await encode(`text. ${spec.needle}`)).slice((await encode('text.')).length);
        expect([...p.ids.slice(p.needleAt, p.needleAt + needle.length)], where).toEqual([...needle]);
        const context = length - head - question.length;
        expect(p.needleAt + needle.length, where).toBeLessThanOrEqual(head + context);
        // A sentence boundary within NEAR_CHARS characters: at most a few dozen tokens from the spot.
        const at = (p.needleAt - head) / (context - needle.length);
        const slack = length >= 1000 ? (NEAR_CHARS / 3 + 8) / (context - needle.length) : 0.6;
        expect(Math.abs(at - depth / 100), where).toBeLessThanOrEqual(slack);
      }
    }
  });

  it("gives the answer's ids as the answer alone tokenizes, and as it follows the question", async () => {
    for (let i = 0; i < 5; i++) {
      const spec = magicNumber(7, i);
      const p = await buildPrompt(encode, bos, HAYSTACK, 512, 50, spec);
      expect([...p.answerIds]).toEqual([...(await encode(answerAlone(spec.answer)))]);
      const question = await encode(spec.question);
      expect([...(await encode(spec.question + spec.answer))]).toEqual([...question, ...p.answerIds]);
    }
  });

  it('is the same prompt for the same seed, grid cell and haystack', async () => {
    const a = await buildPrompt(encode, bos, HAYSTACK, 700, 30, magicNumber(3, 11));
    const b = await buildPrompt(encode, bos, HAYSTACK, 700, 30, magicNumber(3, 11));
    expect(b).toEqual(a);
  });

  it('refuses a length with no room for the needle, in one line', async () => {
    const err = await buildPrompt(encode, bos, HAYSTACK, 24, 50, magicNumber(0, 0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect((err as Error).message).toMatch(/^a 24-token prompt leaves \d+ tokens of context, fewer than the needle's \d+ \(pass larger --lengths\)$/);
  });

  it('refuses a haystack too short for the length, in one line', async () => {
    const short = HAYSTACK.slice(0, 2000);
    const err = await buildPrompt(encode, bos, short, 4096, 50, magicNumber(0, 0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect((err as Error).message).toMatch(/^the haystack holds \d+ tokens with the needle, fewer than the \d+ of context a 4096-token prompt needs \(pass a larger --haystack, or smaller --lengths\)$/);
  });
});

describe('magicNumber', () => {
  it('draws each prompt its own key and value, the same for the same seed and index', () => {
    expect(magicNumber(1, 2)).toEqual(magicNumber(1, 2));
    const facts = new Set(Array.from({ length: 50 }, (_, i) => magicNumber(1, i).needle));
    expect(facts.size).toBe(50);
    expect(magicNumber(2, 0).needle).not.toBe(magicNumber(1, 0).needle);
    expect(magicNumber(0, 0).needle).toMatch(/^The special magic number for [a-z]+-[a-z]+ is [1-9]\d{6}\.$/);
  });
});
