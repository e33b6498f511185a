/**
 * What the `bpe` engine needs from a tokenizer.json, and the proof, made at load time, that its
 * split into cacheable pieces gives exactly the ids Hugging Face's BPE gives for the whole text.
 *
 * Two shapes are supported:
 * - SentencePiece-style (Llama-2): a Prepend("▁") + Replace(" " → "▁") normalizer and no pre-tokenizer,
 *   so Rust runs BPE over whole documents. The text is cut before every "▁" that follows a character
 *   other than "▁". That cut is exact when no merge joins a piece ending in something other than "▁"
 *   to a piece starting with "▁": every symbol BPE ever forms is then inside one piece, merges in one
 *   piece never see another piece, and the global lowest-rank-first order runs each piece's merges in
 *   the order it would alone.
 * - ByteLevel (GPT-2, Llama-3): the tokenizer's own regex split, which Rust caches per pre-token too.
 *
 * Anything else is refused with the reason, and `prepare` uses the native engine.
 */
import { isRecord } from '../../../core/is-record.ts';
import { onigSource } from '../regex.ts';
import { PairTable, type PairTableData } from './pairs.ts';
import { StringTable, type StringTableData } from './strings.ts';

export const SPIECE = '\u2581';

/** The GPT-2 regex the ByteLevel pre-tokenizer uses when `use_regex` is on (tokenizers' byte_level.rs). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";


/**
 * Plain data, so that it crosses to worker threads; its two big tables sit on shared memory, so
 * it crosses without a copy (see shared.ts).
 */
export interface BpeModel {
  kind: 'sentencepiece' | 'bytelevel';
  vocab: StringTableData;
  merges: PairTableData;
  ignoreMerges: boolean;
  /** No two tokens share an id: then short words may take the linear merge (see word-merges.ts). */
  injective: boolean;
  /** SentencePiece-style: byte → id of `<0xXX>`, or -1. */
  byteFallback: Int32Array | null;
  unkId: number | null;
  fuseUnk: boolean;
  /** ByteLevel: byte → id of its byte-level character; the split regex's source (flags `gu`). */
  byteIds: Int32Array | null;
  byteChars: string[] | null;
  split: string | null;
}

export type BpeLoad = { ok: true; model: BpeModel } | { ok: false; why: string };

const no = (why: string): BpeLoad => ({ ok: false, why });

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for U+0100 onwards. */
export function byteLevelChars(): string[] {
  const chars: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCodePoint(printable ? b : next++);
  }
  return chars;
}

/**
 * Oniguruma's scoped `(?i:...)`, which V8 before 12.5 cannot parse, spelled out with classes.
 * Simple case folding adds only two non-ASCII partners to ASCII letters: ſ (U+017F) to s, K (U+212A) to k.
 */
export function expandCaseless(source: string): string {
  return source.replace(/\(\?i:((?:[^()\\[\]]|\\.)*)\)/g, (_, body: string) => {
    const cls = body.replace(/\\.|[A-Za-z]/g, (c) => {
      if (c.length > 1) return c;
      const lo = c.toLowerCase();
      const extra = lo === 's' ? '\u017f' : lo === 'k' ? '\u212a' : '';
      return `[${lo}${lo.toUpperCase()}${extra}]`;
    });
    return `(?:${cls})`;
  });
}

const isType = (node: unknown, type: string): node is Record<string, unknown> => isRecord(node) && node.type === type;
const nullish = (v: unknown) => v === null || v === undefined || v === '';

function sentencePieceNormalizer(n: unknown): boolean {
  if (!isType(n, 'Sequence') || !Array.isArray(n.normalizers) || n.normalizers.length !== 2) return false;
  const prepend = n.normalizers.find((x) => isType(x, 'Prepend'));
  const replace = n.normalizers.find((x) => isType(x, 'Replace'));
  return (
    isType(prepend, 'Prepend') &&
    prepend.prepend === SPIECE &&
    isType(replace, 'Replace') &&
    isRecord(replace.pattern) &&
    replace.pattern.String === ' ' &&
    replace.content === SPIECE
  );
}

/** The split regex of a ByteLevel pre-tokenizer, alone or after one Isolated Split; null when unsupported. */
function byteLevelSplit(pre: unknown): string | null {
  const byteLevel = (x: unknown, regex: boolean) => isType(x, 'ByteLevel') && x.add_prefix_space === false && (x.use_regex ?? true) === regex;
  if (byteLevel(pre, true)) return GPT2_PATTERN;
  if (!isType(pre, 'Sequence') || !Array.isArray(pre.pretokenizers) || pre.pretokenizers.length !== 2) return null;
  const [split, bl] = pre.pretokenizers;
  if (!isType(split, 'Split') || split.behavior !== 'Isolated' || split.invert !== false || !byteLevel(bl, false)) return null;
  return isRecord(split.pattern) && typeof split.pattern.Regex === 'string' ? split.pattern.Regex : null;
}

function parseMerges(raw: unknown): Array<[string, string]> | null {
  if (!Array.isArray(raw)) return null;
  const out: Array<[string, string]> = [];
  for (const m of raw) {
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) return null;
      out.push([parts[0], parts[1]]);
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      out.push([m[0], m[1]]);
    } else return null;
  }
  return out;
}

/** Loads and proves; `plainJson` is tokenizer.json as documents are encoded with it (see load.ts). */
export function loadBpeModel(plainJson: string): BpeLoad {
  const doc: unknown = JSON.parse(plainJson);
  if (!isRecord(doc) || !isRecord(doc.model)) return no('no model');
  const m = doc.model;
  if (m.type !== 'BPE') return no(`the model is ${String(m.type ?? 'not BPE')}, not BPE`);
  if (!nullish(m.dropout)) return no('BPE dropout is set');
  if (!nullish(m.continuing_subword_prefix) || !nullish(m.end_of_word_suffix)) return no('a subword prefix or suffix is set');
  if (Array.isArray(doc.added_tokens) && doc.added_tokens.length > 0) return no('it has non-special added tokens');
  if (!isRecord(m.vocab)) return no('the vocab is not an object');

  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(m.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0) return no(`vocab entry ${JSON.stringify(token)} has no valid id`);
    vocab.set(token, id as number);
  }
  const list = parseMerges(m.merges);
  if (list === null) return no('the merges are not pairs');
  const merges = PairTable.create(list.length);
  for (let rank = 0; rank < list.length; rank++) {
    const [a, b] = list[rank];
    const ai = vocab.get(a);
    const bi = vocab.get(b);
    const ni = vocab.get(a + b);
    if (ai === undefined || bi === undefined || ni === undefined) return no(`merge ${rank} names a token outside the vocab`);
    merges.set(ai, bi, rank, ni);
  }
  const base = {
    vocab: StringTable.from(vocab).data,
    merges: merges.data,
    ignoreMerges: m.ignore_merges === true,
    injective: new Set(vocab.values()).size === vocab.size,
    unkId: typeof m.unk_token === 'string' ? (vocab.get(m.unk_token) ?? null) : null,
    fuseUnk: m.fuse_unk === true,
  };

  if (sentencePieceNormalizer(doc.normalizer) && nullish(doc.pre_tokenizer)) {
    if (!vocab.has(SPIECE)) return no(`"${SPIECE}" is not in the vocab`);
    for (const [a, b] of list) {
      if (!a.endsWith(SPIECE) && b.startsWith(SPIECE)) return no(`merge "${a}" + "${b}" joins a word to the "${SPIECE}" after it`);
    }
    let byteFallback: Int32Array | null = null;
    if (m.byte_fallback === true) {
      byteFallback = new Int32Array(256);
      for (let b = 0; b < 256; b++) byteFallback[b] = vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? -1;
    }
    return { ok: true, model: { kind: 'sentencepiece', ...base, byteFallback, byteIds: null, byteChars: null, split: null } };
  }

  const pattern = nullish(doc.normalizer) ? byteLevelSplit(doc.pre_tokenizer) : null;
  if (pattern === null) return no('its normalizer and pre-tokenizer are neither SentencePiece-style nor ByteLevel');
  if (m.byte_fallback === true) return no('ByteLevel with byte_fallback');
  const byteChars = byteLevelChars();
  const byteIds = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = vocab.get(byteChars[b]);
    if (id === undefined) return no(`byte ${b} has no byte-level token`);
    byteIds[b] = id;
  }
  const split = onigSource(expandCaseless(pattern), 'u');
  try {
    new RegExp(split, 'gu');
  } catch (e) {
    return no(`its split regex does not compile here (${(e as Error).message})`);
  }
  return { ok: true, model: { kind: 'bytelevel', ...base, byteFallback: null, byteIds, byteChars, split } };
}
