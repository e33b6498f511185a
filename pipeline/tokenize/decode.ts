/** Ids back to text, for `inspect`: whole runs, and single pieces as they read mid-sentence. */
import type { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { buildJsTokenizer } from './js.ts';
import type { LoadedTokenizer } from './load.ts';
import { isObject, type Json } from './specials.ts';

export interface Decoder {
  decode(ids: ArrayLike<number>): string;
  tokenText(id: number): string;
}


/** Decoder config that renders one piece as the text it adds mid-sentence, without first-token space stripping. */
function pieceDecoderConfig(dec: unknown): unknown {
  if (!isObject(dec)) return dec;
  if (dec.type === 'Sequence' && Array.isArray(dec.decoders)) {
    return { ...dec, decoders: dec.decoders.filter((d) => !(isObject(d) && d.type === 'Strip')).map(pieceDecoderConfig) };
  }
  if (dec.type === 'Metaspace') {
    const replacement = typeof dec.replacement === 'string' ? dec.replacement : '\u2581';
    return { type: 'Replace', pattern: { String: replacement }, content: ' ' };
  }
  return dec;
}

export async function createDecoder(tok: LoadedTokenizer): Promise<Decoder> {
  const full = buildJsTokenizer(tok.fullJson);
  const size = tok.specials.vocabSize;
  let pieces: JsTokenizer | null = null;
  const check = (id: number) => {
    // Ids past the vocabulary (the default [MASK]) mean nothing to the tokenizer; callers render them.
    if (!Number.isInteger(id) || id < 0 || id >= size) throw new RangeError(`token id ${id} is outside the vocabulary (0..${size - 1})`);
  };
  return {
    decode(ids) {
      const list = Array.from(ids);
      if (list.length === 0) return '';
      list.forEach(check);
      return full.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    tokenText(id) {
      check(id);
      if (pieces === null) {
        const doc = JSON.parse(tok.fullJson) as Json;
        pieces = buildJsTokenizer(JSON.stringify({ ...doc, decoder: pieceDecoderConfig(doc.decoder) }));
      }
      return pieces.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
  };
}
