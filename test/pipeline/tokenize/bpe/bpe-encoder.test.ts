/**
 * The bpe engine gives the native engine's ids: on every fixture document, on edge strings and on
 * random strings from every corner of Unicode, for Llama-2, GPT-2 and Llama-3; with a cache so small
 * that it empties all the time, too.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BpeEncoder, cacheLimits } from '../../../../pipeline/tokenize/bpe/bpe-encoder.ts';
import { loadBpeModel, type BpeModel } from '../../../../pipeline/tokenize/bpe/bpe-model.ts';
import type { Encoder } from '../../../../pipeline/tokenize/encoder.ts';
import { createEncoder } from '../../../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../../../../pipeline/tokenize/load.ts';
import { DOCS, LLAMA3, TOK } from '../helpers.ts';

const PATHS = { llama2: TOK.llama2, gpt2: TOK.gpt2, llama3: LLAMA3 } as const;
type Name = keyof typeof PATHS;
const NAMES = Object.keys(PATHS) as Name[];

const models = {} as Record<Name, BpeModel>;
const natives = {} as Record<Name, Encoder>;

beforeAll(async () => {
  for (const name of NAMES) {
    const tok = await loadTokenizer(PATHS[name]);
    const load = loadBpeModel(tok.plainJson);
    if (!load.ok) throw new Error(load.why);
    models[name] = load.model;
    natives[name] = await createEncoder(tok, 'native', 2);
  }
});

/** Pieces random text is built from: each a kind of text that once split or merged differently somewhere. */
const anyCodePoint = fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c));
const PIECE = fc.oneof(
  anyCodePoint, // every plane, unassigned and private use
  fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), // lone surrogates, or pairs by chance
  fc.constantFrom(' ', '  ', '   ', '\t', '\n', '\r\n', '\u2581', '\u2581\u2581', ' \u2581', '\u3000', '\u00a0', '\u0085', '\ufeff'),
  fc.constantFrom('👩🏽‍💻', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇩🇪', '❤️', '\u200d', '\ufe0f'), // emoji, ZWJ sequences, flags
  fc.constantFrom('中文', '日本語の', '한국어', '𠀋𡈽', '鱻'), // CJK, some outside Llama-2's vocab (byte fallback)
  fc.constantFrom("'s", "'S", "'ſ", "'ll", "'LL", "'re", "'t", "'d", "'m", "'ve"), // contractions, caseless in Llama-3
  fc.constantFrom('the', 'The', 'tokenization', 'Hello', 'world', '1234567', '3.14', '٣٤٥', 'ⅷ'),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
);
const TEXT = fc.array(PIECE, { maxLength: 24 }).map((p) => p.join(''));

describe('bpe engine = native engine', () => {
  for (const name of NAMES) {
    it(`${name}: every fixture document`, async () => {
      const want = await natives[name].encodeBatch(DOCS);
      const enc = new BpeEncoder(models[name]);
      const bad = DOCS.map((_, i) => i).filter((i) => enc.encode(DOCS[i]).join() !== want[i].join());
      expect(bad).toEqual([]);
    });

    it(`${name}: random text from every plane, emoji, CJK, spaces, tabs, CRLF, ▁ and lone surrogates`, async () => {
      const enc = new BpeEncoder(models[name]);
      await fc.assert(
        fc.asyncProperty(TEXT, async (text) => {
          const [want] = await natives[name].encodeBatch([text]);
          expect(Array.from(enc.encode(text))).toEqual(Array.from(want));
        }),
        { numRuns: 400 },
      );
    });

    it(`${name}: the same ids with a cache that keeps emptying, and in one packed batch`, async () => {
      const texts = DOCS.slice(0, 60);
      const want = await natives[name].encodeBatch(texts);
      const tiny = new BpeEncoder(models[name], { cacheEntries: 7, cacheIds: 50 });
      texts.forEach((t, i) => expect(tiny.encode(t).join(), `doc ${i}`).toBe(want[i].join()));
      const packed = new BpeEncoder(models[name]).encodeMany(texts);
      expect(packed[0]).toBe(texts.length);
      let at = 1 + texts.length;
      texts.forEach((_, i) => {
        expect(packed.subarray(at, at + packed[1 + i]).join()).toBe(want[i].join());
        at += packed[1 + i];
      });
      expect(at).toBe(packed.length);
    });
  }

  it('long texts without a space, a long run of spaces and an empty text', async () => {
    const texts = ['据'.repeat(20_000), 'a'.repeat(30_000), ' '.repeat(5000) + 'x', '\u2581'.repeat(40), '', 'x'];
    for (const name of NAMES) {
      const want = await natives[name].encodeBatch(texts);
      const enc = new BpeEncoder(models[name]);
      texts.forEach((t, i) => expect(enc.encode(t).join(), `${name} text ${i}`).toBe(want[i].join()));
    }
  });
});

describe('cacheLimits', () => {
  it('splits one budget between the threads that run at once, each between 2^15 and 2^18 pieces', () => {
    const entries = [1, 2, 3, 4, 5, 8, 16, 64].map((t) => cacheLimits(t).cacheEntries);
    expect(entries).toEqual([1 << 18, 1 << 18, 1 << 17, 1 << 17, 1 << 16, 1 << 16, 1 << 15, 1 << 15]);
    expect(cacheLimits(8)).toEqual({ cacheEntries: 1 << 16, cacheIds: 1 << 19 });
  });
});
