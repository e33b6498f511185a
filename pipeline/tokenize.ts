/**
 * Tokenizer loading, special-id resolution and the two encoding engines.
 *
 * Documents are always encoded as plain text: the pipeline, never the text, decides where special
 * ids go. Both engines would otherwise cut `<s>`, `</s>`, `<|endoftext|>` ... out of raw text even
 * with special tokens switched off, so documents are encoded with `plainJson`, a copy of
 * tokenizer.json without the special added tokens and without its post-processor. `<s>` in a
 * document then becomes ordinary pieces, as SentencePiece itself does.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { Piscina } from 'piscina';
import { tokenizerError, MeapError, readNamedFile } from './errors.ts';
import type { Engine } from '../schemas/config.ts';

export interface SpecialIds {
  bosId: number | null;
  eosId: number | null;
  maskTokenId: number;
  vocabSize: number;
}

export interface LoadedTokenizer {
  /** As given. */
  path: string;
  /** Of the tokenizer.json bytes on disk. */
  sha256: string;
  specials: SpecialIds;
  /** Ids of all special added tokens, plus bos/eos/mask. */
  specialIds: ReadonlySet<number>;
  /** tokenizer.json with special added tokens and post_processor removed: what documents are encoded with. */
  plainJson: string;
  /** The original, for decoding with special tokens shown. */
  fullJson: string;
}

export interface Encoder {
  encodeBatch(texts: string[]): Promise<Int32Array[]>;
  close(): Promise<void>;
}

export interface Decoder {
  decode(ids: ArrayLike<number>): string;
  tokenText(id: number): string;
}

type Json = Record<string, unknown>;

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

// ---------------------------------------------------------------------------------------------
// Loading and special ids
// ---------------------------------------------------------------------------------------------

export async function loadTokenizer(
  path: string,
  overrides: { bosId?: number; eosId?: number; maskTokenId?: number } = {},
): Promise<LoadedTokenizer> {
  const bytes = await readNamedFile(path, (reason) => tokenizerError(`tokenizer file ${reason}`, path, 'pass --tokenizer the path of a Hugging Face tokenizer.json'));
  const fullJson = bytes.toString('utf8');
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  let doc: unknown;
  try {
    doc = JSON.parse(fullJson);
  } catch (e) {
    throw tokenizerError(`tokenizer file is not valid JSON (${(e as Error).message})`, path, 'pass a Hugging Face tokenizer.json');
  }
  const unsupported = (why: string) =>
    tokenizerError(`unsupported tokenizer.json: ${why}`, path, 'meap reads the Hugging Face `tokenizers` format (tokenizer.json with a BPE, WordPiece, WordLevel or Unigram model)');
  if (!isObject(doc)) throw unsupported('the top level is not an object');
  const model = doc.model;
  if (!isObject(model)) throw unsupported('no "model" object');

  // --- vocabulary: token -> id, and the size the embedding must have ---
  const vocab = new Map<string, number>();
  let maxId = -1;
  const addVocab = (token: string, id: number) => {
    if (!vocab.has(token)) vocab.set(token, id);
    if (id > maxId) maxId = id;
  };
  const modelType = model.type ?? (Array.isArray(model.vocab) ? 'Unigram' : undefined);
  if (modelType === 'BPE' || modelType === 'WordPiece' || modelType === 'WordLevel' || (modelType === undefined && isObject(model.vocab))) {
    if (!isObject(model.vocab)) throw unsupported(`the ${String(modelType ?? 'model')} vocab is not an object`);
    for (const [token, id] of Object.entries(model.vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) throw unsupported(`vocab entry ${JSON.stringify(token)} has no valid id`);
      addVocab(token, id as number);
    }
  } else if (modelType === 'Unigram') {
    if (!Array.isArray(model.vocab)) throw unsupported('the Unigram vocab is not an array');
    model.vocab.forEach((entry, id) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string') throw unsupported(`Unigram vocab entry ${id} is not [piece, score]`);
      addVocab(entry[0], id);
    });
  } else {
    throw unsupported(`model type ${JSON.stringify(model.type)}`);
  }

  const rawAdded = doc.added_tokens ?? [];
  if (!Array.isArray(rawAdded)) throw unsupported('"added_tokens" is not an array');
  const added: AddedTokenJson[] = rawAdded.map((t, i) => {
    if (!isObject(t) || typeof t.content !== 'string' || !Number.isInteger(t.id) || (t.id as number) < 0) {
      throw unsupported(`added_tokens[${i}] has no content or id`);
    }
    return t as unknown as AddedTokenJson;
  });
  // Added tokens win over model pieces of the same text: that is what the tokenizer itself emits.
  for (const t of added) {
    vocab.set(t.content, t.id);
    if (t.id > maxId) maxId = t.id;
  }
  if (maxId < 0) throw unsupported('the vocabulary is empty');
  const vocabSize = maxId + 1;

  const idOf = (token: string, from: string): number => {
    const id = vocab.get(token);
    if (id === undefined) {
      throw tokenizerError(`${from} names the token ${JSON.stringify(token)}, which is not in the tokenizer's vocabulary`, path, 'fix the config file or pass the id explicitly (--bos-id / --eos-id)');
    }
    return id;
  };

  // --- what a Hugging Face model folder says (special_tokens_map.json overrides tokenizer_config.json, as in transformers) ---
  const dir = dirname(path);
  const tokCfg = await readOptionalJson(join(dir, 'tokenizer_config.json'));
  const stMap = await readOptionalJson(join(dir, 'special_tokens_map.json'));
  const configToken = (key: string): { token: string; from: string } | null => {
    for (const [cfg, name] of [[stMap, 'special_tokens_map.json'], [tokCfg, 'tokenizer_config.json']] as const) {
      const v = cfg?.[key];
      const token = typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : null;
      if (token !== null) return { token, from: `${name} ${key}` };
    }
    return null;
  };

  // --- what the post-processor template says ---
  const template = templateSpecials(doc.post_processor, vocab);

  const checkOverride = (name: string, id: number | undefined, max: number): number | undefined => {
    if (id === undefined) return undefined;
    if (!Number.isInteger(id) || id < 0 || id > max) {
      throw tokenizerError(`${name} ${id} is out of range for this tokenizer (ids 0..${max})`, path, `pass an id in 0..${max} or leave ${name} out`);
    }
    return id;
  };

  let bosId: number | null;
  const ov = checkOverride('bos id', overrides.bosId, vocabSize - 1);
  if (ov !== undefined) bosId = ov;
  else {
    // Only a BOS the tokenizer really prepends counts: GPT-2's config names bos_token, yet GPT-2 adds none.
    const addBos = tokCfg?.add_bos_token;
    if (typeof addBos === 'boolean') {
      const bos = configToken('bos_token');
      bosId = !addBos ? null : bos ? idOf(bos.token, bos.from) : template.bos;
    } else {
      bosId = template.bos;
    }
  }

  let eosId: number | null;
  const oe = checkOverride('eos id', overrides.eosId, vocabSize - 1);
  if (oe !== undefined) eosId = oe;
  else {
    const eos = configToken('eos_token');
    eosId = eos ? idOf(eos.token, eos.from) : template.eos;
  }

  // The MEAP paper's code puts [MASK] just past the vocabulary when the tokenizer has none.
  const maskAdded = added.find((t) => t.content === '[MASK]') ?? added.find((t) => t.content === '<mask>');
  const maskTokenId = checkOverride('mask token id', overrides.maskTokenId, vocabSize) ?? maskAdded?.id ?? vocabSize;

  const specialIds = new Set<number>();
  for (const t of added) if (t.special) specialIds.add(t.id);
  if (bosId !== null) specialIds.add(bosId);
  if (eosId !== null) specialIds.add(eosId);
  specialIds.add(maskTokenId);

  // A non-special [MASK] added token goes too: documents must never be able to produce the mask id.
  const plain: Json = {
    ...doc,
    added_tokens: added.filter((t) => !t.special && !specialIds.has(t.id)),
    post_processor: null,
  };

  return {
    path,
    sha256,
    specials: { bosId, eosId, maskTokenId, vocabSize },
    specialIds,
    plainJson: JSON.stringify(plain),
    fullJson,
  };
}

async function readOptionalJson(file: string): Promise<Json | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw tokenizerError(`cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, file, 'make the file readable or remove it');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw tokenizerError(`invalid JSON (${(e as Error).message})`, file, 'fix or remove this file beside tokenizer.json');
  }
  if (!isObject(v)) throw tokenizerError('not a JSON object', file, 'fix or remove this file beside tokenizer.json');
  return v;
}

/** BOS = a special token the post-processor puts before a single sequence; EOS = one it puts after. */
function templateSpecials(pp: unknown, vocab: Map<string, number>): { bos: number | null; eos: number | null } {
  const none = { bos: null, eos: null };
  if (!isObject(pp)) return none;
  if (pp.type === 'Sequence' && Array.isArray(pp.processors)) {
    for (const p of pp.processors) {
      const r = templateSpecials(p, vocab);
      if (r.bos !== null || r.eos !== null) return r;
    }
    return none;
  }
  if (pp.type === 'BertProcessing' || pp.type === 'RobertaProcessing') {
    const pick = (v: unknown) => (Array.isArray(v) && Number.isInteger(v[1]) ? (v[1] as number) : null);
    return { bos: pick(pp.cls), eos: pick(pp.sep) };
  }
  if (pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return none;
  const specials = isObject(pp.special_tokens) ? pp.special_tokens : {};
  const idOf = (piece: unknown): number | null => {
    if (!isObject(piece) || !isObject(piece.SpecialToken)) return null;
    const name = piece.SpecialToken.id;
    if (typeof name !== 'string') return null;
    const entry = specials[name];
    // A template "special token" may expand to several ids; only a single id can be a BOS/EOS.
    if (isObject(entry) && Array.isArray(entry.ids)) return entry.ids.length === 1 && Number.isInteger(entry.ids[0]) ? (entry.ids[0] as number) : null;
    return vocab.get(name) ?? null;
  };
  const single = pp.single;
  return { bos: idOf(single[0]), eos: single.length > 1 ? idOf(single[single.length - 1]) : null };
}

// ---------------------------------------------------------------------------------------------
// The pure-JS tokenizer, made to split like the Rust one
// ---------------------------------------------------------------------------------------------

/*
 * Rust `tokenizers` compiles pre-tokenizer regexes with Oniguruma, whose `\s` is Unicode White_Space:
 * it matches U+0085 but not U+FEFF. JavaScript's `\s` is the other way round, so the JS engine split
 * some real documents differently. Measured against the native engine over every code point.
 */
const ONIG_SPACE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x09, 0x0d], [0x20, 0x20], [0x85, 0x85], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a],
  [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000],
];

/*
 * Letters and digits new in Unicode 17. Node 20.20 knows them; the Oniguruma inside `tokenizers`
 * 0.23 (Unicode 16) treats them as unassigned, so `\p{L}`/`\p{N}` must not match them. Measured
 * against the native engine over every code point; on a Node with older Unicode data excluding them
 * changes nothing.
 */
const NEW_LETTERS: ReadonlyArray<readonly [number, number]> = [
  [0x088f, 0x088f], [0x0c5c, 0x0c5c], [0x0cdc, 0x0cdc], [0xa7ce, 0xa7cf], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4],
  [0xa7f1, 0xa7f1], [0x10940, 0x10959], [0x10ec5, 0x10ec7], [0x11db0, 0x11ddb], [0x16ea0, 0x16eb8],
  [0x16ebb, 0x16ed3], [0x16ff2, 0x16ff3], [0x187f8, 0x187ff], [0x18d09, 0x18d1e], [0x18d80, 0x18df2],
  [0x1e6c0, 0x1e6de], [0x1e6e0, 0x1e6e2], [0x1e6e4, 0x1e6e5], [0x1e6e7, 0x1e6ed], [0x1e6f0, 0x1e6f4],
  [0x1e6fe, 0x1e6ff], [0x2b73a, 0x2b73f], [0x2cea2, 0x2cead], [0x323b0, 0x33479],
];
const NEW_DIGITS: ReadonlyArray<readonly [number, number]> = [[0x11de0, 0x11de9], [0x16ff4, 0x16ff6]];
const NEWER_THAN_ONIG: Record<string, ReadonlyArray<readonly [number, number]>> = {
  L: NEW_LETTERS, Letter: NEW_LETTERS, N: NEW_DIGITS, Number: NEW_DIGITS,
};

function classBody(ranges: ReadonlyArray<readonly [number, number]>, unicode: boolean): string {
  const esc = (cp: number) => (cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`);
  return ranges
    .filter(([a]) => unicode || a <= 0xffff)
    .map(([a, b]) => (a === b ? esc(a) : `${esc(a)}-${esc(b)}`))
    .join('');
}

function complement(ranges: ReadonlyArray<readonly [number, number]>, max: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let next = 0;
  for (const [a, b] of ranges) {
    if (a > next) out.push([next, a - 1]);
    next = b + 1;
  }
  if (next <= max) out.push([next, max]);
  return out;
}

/**
 * Rewrites a RegExp source (u flag or none, not v) so that `\s`, `\S`, `\p{L}` and `\p{N}` match what
 * they match in Oniguruma. Escaped backslashes are left alone.
 */
export function onigSource(source: string, flags: string): string {
  const unicode = flags.includes('u');
  const ws = classBody(ONIG_SPACE_RANGES, unicode);
  const nonWs = classBody(complement(ONIG_SPACE_RANGES, unicode ? 0x10ffff : 0xffff), unicode);
  let out = '';
  let i = 0;
  // Reads one escape at source[i] (a backslash); returns its text and, for \p{X}/\P{X}, the property.
  const readEscape = (): { text: string; prop?: string; negated?: boolean } => {
    const n = source[i + 1] ?? '';
    if (unicode && (n === 'p' || n === 'P') && source[i + 2] === '{') {
      const close = source.indexOf('}', i + 3);
      if (close > 0) {
        const text = source.slice(i, close + 1);
        i = close + 1;
        return { text, prop: text.slice(3, -1), negated: n === 'P' };
      }
    }
    i += 2;
    return { text: '\\' + n };
  };
  while (i < source.length) {
    const c = source[i];
    if (c === '\\') {
      const e = readEscape();
      const newer = e.prop !== undefined && unicode ? NEWER_THAN_ONIG[e.prop] : undefined;
      if (e.text === '\\s') out += `[${ws}]`;
      else if (e.text === '\\S') out += `[^${ws}]`;
      else if (newer && !e.negated) out += `(?:(?![${classBody(newer, true)}])${e.text})`;
      else if (newer) out += `(?:${e.text}|[${classBody(newer, true)}])`;
      else out += e.text;
      continue;
    }
    if (c !== '[') {
      out += c;
      i++;
      continue;
    }
    // Without the v flag classes do not nest, and a `]` right after `[` or `[^` closes the class.
    i++;
    const negated = source[i] === '^';
    if (negated) i++;
    let body = '';
    const newer: Array<readonly [number, number]> = [];
    while (i < source.length && source[i] !== ']') {
      if (source[i] !== '\\') {
        body += source[i++];
        continue;
      }
      const e = readEscape();
      if (e.text === '\\s') body += ws;
      else if (e.text === '\\S') body += nonWs;
      else {
        if (e.prop !== undefined && !e.negated && unicode && NEWER_THAN_ONIG[e.prop]) newer.push(...NEWER_THAN_ONIG[e.prop]);
        body += e.text;
      }
    }
    i++;
    const cls = `[${negated ? '^' : ''}${body}]`;
    if (newer.length === 0) out += cls;
    // Characters Oniguruma thinks unassigned are outside every \p{L}/\p{N}: out of a class that
    // names them, into a negated one.
    else if (!negated) out += `(?:(?![${classBody(newer, true)}])${cls})`;
    else out += `(?:${cls}|[${classBody(newer, true)}])`;
  }
  return out;
}

function patchRegExp(re: RegExp): RegExp {
  // v-mode classes nest and need another parser; the library never builds such patterns.
  if (re.flags.includes('v')) return re;
  const source = onigSource(re.source, re.flags);
  return source === re.source ? re : new RegExp(source, re.flags);
}

/** Walks the normalizer and pre-tokenizer objects of a @huggingface/tokenizers Tokenizer and patches their regexes. */
function patchWhitespace(node: unknown, seen = new Set<unknown>()): void {
  if (node === null || (typeof node !== 'object' && typeof node !== 'function') || seen.has(node)) return;
  seen.add(node);
  const obj = node as Record<string, unknown>;
  if (obj.pattern instanceof RegExp) obj.pattern = patchRegExp(obj.pattern);
  // Sequence pre-tokenizers keep children in `tokenizers`, Sequence normalizers in `normalizers`.
  for (const key of ['tokenizers', 'normalizers']) {
    const children = obj[key];
    if (Array.isArray(children)) for (const ch of children) patchWhitespace(ch, seen);
  }
}

/** A @huggingface/tokenizers Tokenizer that splits text exactly as the Rust library does. */
export function buildJsTokenizer(json: string, config: Record<string, unknown> = {}): JsTokenizer {
  const tok = new JsTokenizer(JSON.parse(json), { clean_up_tokenization_spaces: false, ...config });
  patchWhitespace(tok.normalizer);
  patchWhitespace(tok.pre_tokenizer);
  return tok;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Rust strings cannot hold lone surrogates: the native binding turns them into U+FFFD, so JS does too. */
export function wellFormed(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\ufffd') : text;
}

export function encodeWithJs(tok: JsTokenizer, text: string): Int32Array {
  const t = wellFormed(text);
  return t.length === 0 ? new Int32Array(0) : Int32Array.from(tok.encode(t, { add_special_tokens: false }).ids);
}

/** Several encodings in one buffer, so a worker can hand them back without copying: [n, len_1..len_n, ids...]. */
export function packIds(list: Int32Array[]): Int32Array {
  let total = 1 + list.length;
  for (const a of list) total += a.length;
  const out = new Int32Array(total);
  out[0] = list.length;
  let at = 1 + list.length;
  list.forEach((a, i) => {
    out[1 + i] = a.length;
    out.set(a, at);
    at += a.length;
  });
  return out;
}

export function unpackIds(packed: Int32Array): Int32Array[] {
  const n = packed[0];
  const out: Int32Array[] = [];
  let at = 1 + n;
  for (let i = 0; i < n; i++) {
    const len = packed[1 + i];
    out.push(packed.subarray(at, at + len));
    at += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------------------------

function engineError(tok: LoadedTokenizer, engine: Engine, e: unknown): MeapError {
  if (e instanceof MeapError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return tokenizerError(
    `the ${engine} engine cannot load this tokenizer.json (${msg})`,
    tok.path,
    engine === 'js' ? 'try --engine native' : 'try --engine js, or re-save the tokenizer with a recent `tokenizers`',
  );
}

/*
 * Rayon sizes its global pool once, from RAYON_NUM_THREADS, when the first parallel call starts it;
 * later values are ignored. So the first native encoder in a process decides the thread count for
 * every later one, and nothing else in the process may have used the native library first.
 */
let rayonStarted = false;

export async function createEncoder(tok: LoadedTokenizer, engine: Engine, workers: number): Promise<Encoder> {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  if (engine === 'native') return createNativeEncoder(tok, workers);
  if (workers === 1) {
    let js: JsTokenizer;
    try {
      js = buildJsTokenizer(tok.plainJson);
    } catch (e) {
      throw engineError(tok, engine, e);
    }
    return {
      async encodeBatch(texts) {
        return texts.map((t) => encodeWithJs(js, t));
      },
      async close() {},
    };
  }
  return createJsPoolEncoder(tok, workers);
}

async function createNativeEncoder(tok: LoadedTokenizer, workers: number): Promise<Encoder> {
  const { Tokenizer } = await import('tokenizers');
  let native: InstanceType<typeof Tokenizer>;
  try {
    native = Tokenizer.fromString(tok.plainJson);
  } catch (e) {
    throw engineError(tok, 'native', e);
  }
  if (!rayonStarted) process.env.RAYON_NUM_THREADS = String(workers);
  return {
    async encodeBatch(texts) {
      if (texts.length === 0) return [];
      rayonStarted = true;
      // No wellFormed() here: N-API's UTF-8 conversion already turns lone surrogates into U+FFFD.
      const encodings = await native.encodeBatch(texts, { addSpecialTokens: false });
      return encodings.map((e) => Int32Array.from(e.getIds()));
    },
    async close() {},
  };
}

async function createJsPoolEncoder(tok: LoadedTokenizer, workers: number): Promise<Encoder> {
  // Fail here, in the caller's thread, rather than as a worker crash on the first batch.
  try {
    buildJsTokenizer(tok.plainJson);
  } catch (e) {
    throw engineError(tok, 'js', e);
  }
  const pool = new Piscina({
    // A plain-JS shim: Node 20 workers cannot load .ts through execArgv.
    filename: new URL('./tokenize-worker.js', import.meta.url).href,
    minThreads: workers,
    maxThreads: workers,
    workerData: { json: tok.plainJson },
  });
  return {
    async encodeBatch(texts) {
      if (texts.length === 0) return [];
      // Contiguous slices of about equal characters, a few per thread so one long document does not idle the rest.
      let total = 0;
      for (const t of texts) total += t.length;
      const target = Math.max(1, Math.ceil(total / (workers * 4)));
      const slices: string[][] = [];
      let cur: string[] = [];
      let size = 0;
      for (const t of texts) {
        cur.push(t);
        size += t.length;
        if (size >= target) {
          slices.push(cur);
          cur = [];
          size = 0;
        }
      }
      if (cur.length > 0) slices.push(cur);
      const results = await Promise.all(slices.map((s) => pool.run({ texts: s }) as Promise<Int32Array>));
      return results.flatMap(unpackIds);
    },
    async close() {
      await pool.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

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
