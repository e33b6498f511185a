import { Tokenizer as NativeTokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { createDecoder } from '../../../pipeline/tokenize/decode.ts';
import { DOCS, TOK_NAMES, useTokenizers } from './helpers.ts';

const { loaded, nativeEnc, nativeIds } = useTokenizers({ encode: true });

describe('special tokens in text stay text', () => {
  for (const name of TOK_NAMES) {
    it(`${name}: every fixture document decodes back to itself, as the native decoder does`, async () => {
      const dec = await createDecoder(loaded[name]);
      // SentencePiece's own lossiness: a literal U+2581 in text is the piece for a space (a llama2.c doc has one).
      const expected = (t: string) => (name === 'llama2' ? t.replaceAll('\u2581', ' ') : t);
      const bad = DOCS.map((_, i) => i).filter((i) => dec.decode(nativeIds[name][i]) !== expected(DOCS[i]));
      expect(bad).toEqual([]);
      const native = NativeTokenizer.fromString(loaded[name].fullJson);
      const nativeText = await native.decodeBatch(nativeIds[name].map((a) => Array.from(a)), false);
      const differ = DOCS.map((_, i) => i).filter((i) => nativeText[i] !== dec.decode(nativeIds[name][i]));
      expect(differ).toEqual([]);
    });
  }

  it('the decoder shows special tokens as their text and renders single pieces', async () => {
    const dec = await createDecoder(loaded.llama2);
    const [hello] = await nativeEnc.llama2.encodeBatch(['Hello world']);
    expect(dec.decode([1, ...hello, 2])).toBe('<s> Hello world</s>');
    expect(dec.decode([])).toBe('');
    expect(dec.tokenText(1)).toBe('<s>');
    expect(hello.length).toBe(2);
    expect(dec.tokenText(hello[1])).toBe(' world');
    expect(dec.tokenText(13)).toBe('\n');
    expect(() => dec.decode([32000])).toThrow(RangeError);
    const g = await createDecoder(loaded.gpt2);
    expect(g.decode([50256])).toBe('<|endoftext|>');
    expect(g.tokenText(995)).toBe(' world');
  });

  it('tokenBytes: a byte-fallback or byte-level piece as <0xBB> per byte, any other piece as itself', async () => {
    const dec = await createDecoder(loaded.llama2);
    // Llama-2's byte-fallback pieces <0x00>..<0xFF> are ids 3..258.
    expect(dec.tokenBytes(3 + 0xbb)).toBe('<0xBB>');
    expect(dec.tokenBytes(1)).toBe('<s>');
    const g = await createDecoder(loaded.gpt2);
    const [ids] = await nativeEnc.gpt2.encodeBatch(['\u00e4']);
    expect(ids.length).toBe(1);
    expect(g.tokenBytes(ids[0])).toBe('<0xC3><0xA4>');
    expect(g.tokenBytes(995)).toBe('<0x20><0x77><0x6F><0x72><0x6C><0x64>');
  });
});
