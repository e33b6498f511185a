/**
 * The tokenizer files of an export: the run's tokenizer.json, tokenizer_config.json and
 * special_tokens_map.json with [MASK] made a special token at the id the shards use, so that
 * `AutoTokenizer.from_pretrained` decodes meap rows ([MASK] included) and knows its mask_token.
 * The token at the mask id is the tokenizer's own where it has one (its [MASK] or <mask>, or the
 * token a `--mask-token-id` override named), else a new added token "[MASK]" just past the vocabulary,
 * as Transformers' `add_special_tokens({"mask_token": "[MASK]"})` would put it.
 *
 * Covered by test/trainer/hf-tokenizer.test.ts and, through Transformers, test/interop/test_export.py.
 */
import { configError } from '../core/errors.ts';
import { isRecord, type JsonObject } from '../core/is-record.ts';
import { MASK_TOKENS, SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE, TOKENIZER_FILE } from '../schemas/hf-files.ts';
import type { TokenizerInfo } from '../schemas/settings.ts';


/** The ids a manifest records of its tokenizer, which a checkpoint keeps for its export. */
export type TokenizerIds = Omit<TokenizerInfo, 'sha256'>;

export interface TokenizerSource {
  /** tokenizer.json's text. */
  json: string;
  /** The config files found beside it, parsed, or null. */
  config: JsonObject | null;
  specialTokensMap: JsonObject | null;
}

const flags = { single_word: false, lstrip: false, rstrip: false, normalized: false };

/** The token tokenizer.json gives an id (an added token first, as the tokenizer does), or null. */
export function tokenAt(doc: JsonObject, id: number): string | null {
  const added = Array.isArray(doc.added_tokens) ? (doc.added_tokens as JsonObject[]) : [];
  const a = added.find((t) => t.id === id);
  if (a !== undefined && typeof a.content === 'string') return a.content;
  const model = isRecord(doc.model) ? doc.model : {};
  if (Array.isArray(model.vocab)) {
    const entry = model.vocab[id];
    return Array.isArray(entry) && typeof entry[0] === 'string' ? entry[0] : null;
  }
  if (isRecord(model.vocab)) {
    for (const [token, v] of Object.entries(model.vocab)) if (v === id) return token;
  }
  return null;
}

/** The three files, by name, as the export writes them. */
export function tokenizerFiles(src: TokenizerSource, ids: TokenizerIds): Record<string, string> {
  let doc: unknown;
  try {
    doc = JSON.parse(src.json);
  } catch (e) {
    throw configError(`the run's tokenizer.json is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(doc)) throw configError("the run's tokenizer.json is not a JSON object");
  const mask = tokenAt(doc, ids.maskTokenId) ?? MASK_TOKENS[0];
  const added = (Array.isArray(doc.added_tokens) ? (doc.added_tokens as JsonObject[]) : []).filter((t) => t.id !== ids.maskTokenId);
  const maskEntry = { id: ids.maskTokenId, content: mask, ...flags, special: true };
  const tokenizer = { ...doc, added_tokens: [...added, maskEntry].sort((a, b) => (a.id as number) - (b.id as number)) };

  const content = (id: number | null) => (id === null ? null : tokenAt(doc as JsonObject, id));
  const bos = content(ids.bosId);
  const eos = content(ids.eosId);
  const decoder = isRecord(src.config?.added_tokens_decoder) ? src.config.added_tokens_decoder : {};
  const config = {
    ...(src.config ?? { tokenizer_class: 'PreTrainedTokenizerFast', ...(bos === null ? {} : { bos_token: bos }), ...(eos === null ? {} : { eos_token: eos }) }),
    added_tokens_decoder: { ...decoder, [String(ids.maskTokenId)]: { content: mask, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true } },
    mask_token: mask,
  };
  const specialTokensMap = {
    ...(src.specialTokensMap ?? { ...(bos === null ? {} : { bos_token: bos }), ...(eos === null ? {} : { eos_token: eos }) }),
    mask_token: { content: mask, lstrip: false, normalized: false, rstrip: false, single_word: false },
  };
  const text = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
  return { [TOKENIZER_FILE]: text(tokenizer), [TOKENIZER_CONFIG_FILE]: text(config), [SPECIAL_TOKENS_MAP_FILE]: text(specialTokensMap) };
}
