/** Ids back to text, for `inspect`: whole runs, and single pieces as they read mid-sentence. */
import type { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { isRecord, type JsonObject } from '../../core/is-record.ts';
import { buildJsTokenizer } from './js.ts';
import type { LoadedTokenizer } from './load.ts';

export interface Decoder {
  decode(ids: ArrayLike<number>): string;
  tokenText(id: number): string;
  /** A token's bytes as `<0xBB>` each, for a token that is part of a character: byte-fallback and byte-level pieces. */
  tokenBytes(id: number): string;
}

/** GPT-2's byte-level alphabet: printable bytes stand for themselves, the others for U+0100 onwards. */
function byteLevelDecoder(): Map<string, number> {
  const out = new Map<string, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    out.set(String.fromCodePoint(printable ? b : next++), b);
  }
  return out;
}

const hexByte = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

/** id → the token's string in the vocabulary (model pieces, then added tokens, which win). */
function pieceStrings(doc: JsonObject): Map<number, string> {
  const out = new Map<number, string>();
  const model = isRecord(doc.model) ? doc.model : {};
  if (Array.isArray(model.vocab)) model.vocab.forEach((e, id) => Array.isArray(e) && out.set(id, String(e[0])));
  else if (isRecord(model.vocab)) for (const [piece, id] of Object.entries(model.vocab)) out.set(Number(id), piece);
  for (const t of Array.isArray(doc.added_tokens) ? doc.added_tokens : []) if (isRecord(t)) out.set(Number(t.id), String(t.content));
  return out;
}


/** Decoder config that renders one piece as the text it adds mid-sentence, without first-token space stripping. */
function pieceDecoderConfig(dec: unknown): unknown {
  if (!isRecord(dec)) return dec;
  if (dec.type === 'Sequence' && Array.isArray(dec.decoders)) {
    return { ...dec, decoders: dec.decoders.filter((d) => !(isRecord(d) && d.type === 'Strip')).map(pieceDecoderConfig) };
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
  let strings: { byId: Map<number, string>; byteLevel: Map<string, number> | null } | null = null;
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
        const doc = JSON.parse(tok.fullJson) as JsonObject;
        pieces = buildJsTokenizer(JSON.stringify({ ...doc, decoder: pieceDecoderConfig(doc.decoder) }));
      }
      return pieces.decode([id], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    },
    tokenBytes(id) {
      check(id);
      if (strings === null) {
        const doc = JSON.parse(tok.fullJson) as JsonObject;
        strings = { byId: pieceStrings(doc), byteLevel: JSON.stringify(doc.decoder ?? null).includes('"ByteLevel"') ? byteLevelDecoder() : null };
      }
      const piece = strings.byId.get(id) ?? '';
      if (/^<0x[0-9A-Fa-f]{2}>$/.test(piece)) return piece.toUpperCase().replace('0X', '0x');
      const bytes = strings.byteLevel === null ? null : [...piece].map((c) => strings!.byteLevel!.get(c));
      if (bytes === null || bytes.some((b) => b === undefined)) return piece;
      return (bytes as number[]).map(hexByte).join('');
    },
  };
}
