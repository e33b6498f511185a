/**
 * Which ids are BOS, EOS and [MASK] for a tokenizer, in a fixed order of authority: an explicit
 * override, then special_tokens_map.json over tokenizer_config.json (as transformers reads them),
 * then the post-processor's template; [MASK] is the tokenizer's own or the id just past the vocabulary.
 */
import { dirname, join } from 'node:path';
import { readJsonObject, tokenizerError } from '../../core/errors.ts';
import { isRecord, type JsonObject } from '../../core/is-record.ts';
import { MASK_TOKENS, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE } from '../../schemas/hf-files.ts';

export interface SpecialIds {
  bosId: number | null;
  eosId: number | null;
  maskTokenId: number;
  vocabSize: number;
}

export interface SpecialOverrides {
  bosId?: number;
  eosId?: number;
  maskTokenId?: number;
}

export interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

/** What resolution reads of a loaded tokenizer.json. */
interface TokenizerFile {
  path: string;
  doc: JsonObject;
  vocab: ReadonlyMap<string, number>;
  added: readonly AddedToken[];
  vocabSize: number;
}

export async function resolveSpecials({ path, doc, vocab, added, vocabSize }: TokenizerFile, overrides: SpecialOverrides): Promise<SpecialIds> {
  const idOf = (token: string, from: string): number => {
    const id = vocab.get(token);
    if (id === undefined) {
      throw tokenizerError(`${from} names the token ${JSON.stringify(token)}, which is not in the tokenizer's vocabulary`, path, 'fix the config file or pass the id explicitly (--bos-id / --eos-id)');
    }
    return id;
  };

  // --- what a Hugging Face model folder says (special_tokens_map.json overrides tokenizer_config.json, as in transformers) ---
  const dir = dirname(path);
  const tokCfg = await readOptionalJson(join(dir, TOKENIZER_CONFIG_FILE));
  const stMap = await readOptionalJson(join(dir, SPECIAL_TOKENS_MAP_FILE));
  const configToken = (key: string): { token: string; from: string } | null => {
    for (const [cfg, name] of [[stMap, SPECIAL_TOKENS_MAP_FILE], [tokCfg, TOKENIZER_CONFIG_FILE]] as const) {
      const v = cfg?.[key];
      const token = typeof v === 'string' ? v : isRecord(v) && typeof v.content === 'string' ? v.content : null;
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
  const maskAdded = MASK_TOKENS.map((name) => added.find((t) => t.content === name)).find((t) => t !== undefined);
  const maskTokenId = checkOverride('mask token id', overrides.maskTokenId, vocabSize) ?? maskAdded?.id ?? vocabSize;
  return { bosId, eosId, maskTokenId, vocabSize };
}

const readOptionalJson = (file: string) =>
  readJsonObject(file, (reason) => tokenizerError(reason, file, 'fix or remove this file beside tokenizer.json'), { optional: true });

/** BOS = a special token the post-processor puts before a single sequence; EOS = one it puts after. */
function templateSpecials(pp: unknown, vocab: ReadonlyMap<string, number>): { bos: number | null; eos: number | null } {
  const none = { bos: null, eos: null };
  if (!isRecord(pp)) return none;
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
  const specials = isRecord(pp.special_tokens) ? pp.special_tokens : {};
  const idOf = (piece: unknown): number | null => {
    if (!isRecord(piece) || !isRecord(piece.SpecialToken)) return null;
    const name = piece.SpecialToken.id;
    if (typeof name !== 'string') return null;
    const entry = specials[name];
    // A template "special token" may expand to several ids; only a single id can be a BOS/EOS.
    if (isRecord(entry) && Array.isArray(entry.ids)) return entry.ids.length === 1 && Number.isInteger(entry.ids[0]) ? (entry.ids[0] as number) : null;
    return vocab.get(name) ?? null;
  };
  const single = pp.single;
  return { bos: idOf(single[0]), eos: single.length > 1 ? idOf(single[single.length - 1]) : null };
}
