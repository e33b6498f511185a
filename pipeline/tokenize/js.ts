/**
 * The pure-JS engine (`@huggingface/tokenizers`), made to split and encode exactly as the Rust one.
 * Covered by test/pipeline/tokenize/regex.test.ts (its split, code point by code point) and
 * tokenizer-engines.test.ts (its ids, equal to the other engines').
 */
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { wellFormed } from './ids.ts';
import { patchWhitespace } from './regex.ts';

/** A @huggingface/tokenizers Tokenizer that splits text exactly as the Rust library does. */
export function buildJsTokenizer(json: string, config: Record<string, unknown> = {}): JsTokenizer {
  const tok = new JsTokenizer(JSON.parse(json), { clean_up_tokenization_spaces: false, ...config });
  patchWhitespace(tok.normalizer);
  patchWhitespace(tok.pre_tokenizer);
  return tok;
}

export function encodeWithJs(tok: JsTokenizer, text: string): Int32Array {
  const t = wellFormed(text);
  return t.length === 0 ? new Int32Array(0) : Int32Array.from(tok.encode(t, { add_special_tokens: false }).ids);
}
