/**
 * Documents are encoded with `plainJson`, so special-token text in a document stays text.
 * How special ids are chosen, and loadTokenizer's errors, are in specials.test.ts.
 */
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../../pipeline/tokenize/decode.ts';
import { createEncoder } from '../../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../../../pipeline/tokenize/load.ts';
import { TOK, TOK_NAMES, useTokenizers } from './helpers.ts';

/** Text that real corpora contain (WikiText, code, chat dumps) and that must stay text. */
const SPECIAL_TEXT = [
  '<s>',
  '</s>',
  '<unk>',
  '<|endoftext|>',
  'a<s>b</s>c<unk>d<|endoftext|>e',
  'Tokens like <s> and </s> appear in papers; so does <unk> in WikiText.',
  'if (x < s > y) return "</s>"; // <|endoftext|>',
  '<s><s></s></s><|endoftext|><|endoftext|>',
  ' <s> ',
  '[MASK] <mask>',
];

const asLists = (arrays: Int32Array[]) => arrays.map((a) => Array.from(a));

const { loaded, nativeEnc, nativeIds } = useTokenizers({ encode: true });

describe('special tokens in text stay text', () => {
  for (const name of TOK_NAMES) {
    it(`${name}: no special id from any document, with either engine, and decoding gives the text back`, async () => {
      const tok = loaded[name];
      const dec = await createDecoder(tok);
      const js = await createEncoder(tok, 'js', 1);
      const a = await nativeEnc[name].encodeBatch(SPECIAL_TEXT);
      const b = await js.encodeBatch(SPECIAL_TEXT);
      expect(asLists(b)).toEqual(asLists(a));
      SPECIAL_TEXT.forEach((text, i) => {
        expect(a[i].some((id) => tok.specialIds.has(id)), text).toBe(false);
        expect(dec.decode(a[i])).toBe(text);
      });
      if (name === 'llama2') expect(Array.from(a[0])).toEqual([529, 29879, 29958]);
      if (name === 'gpt2') expect(a[3].includes(50256)).toBe(false);
      for (const ids of nativeIds[name]) expect(ids.some((id) => tok.specialIds.has(id))).toBe(false);
    });
  }
});

describe('a model folder', () => {
  it('loads the tokenizer.json it holds, with the config files beside it', async () => {
    const byFolder = await loadTokenizer(dirname(TOK.llama2));
    expect(byFolder.path).toBe(TOK.llama2);
    expect(byFolder.sha256).toBe(loaded.llama2.sha256);
    expect(byFolder.specials).toEqual(loaded.llama2.specials);
  });
});
