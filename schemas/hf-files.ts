/**
 * The names in a Hugging Face model folder that meap reads and writes beside the shards' tokenizer,
 * apart from zod (as shard-columns.ts) so that a unit worker thread, which loads no zod, can import
 * them through the tokenizer loader.
 */

/** The tokenizer files, each name's one home. */
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const SPECIAL_TOKENS_MAP_FILE = 'special_tokens_map.json';
export const TOKENIZER_FILES = [TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, SPECIAL_TOKENS_MAP_FILE] as const;

/** What a tokenizer names its mask token, in order of preference: the paper's `[MASK]` first (also what meap adds). */
export const MASK_TOKENS = ['[MASK]', '<mask>'] as const;
