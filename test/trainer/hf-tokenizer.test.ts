/**
 * An export's tokenizer files: [MASK] added as a special token at the shards' id, or the tokenizer's
 * own token at that id made the mask token; the config files say so. (AutoTokenizer reads them in
 * test/interop/test_export.py.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tokenAt, tokenizerFiles } from '../../trainer/hf-tokenizer.ts';
import { llama2 } from '../helpers/cli.ts';

const read = (name: string) => fs.readFileSync(path.join(path.dirname(llama2), name), 'utf8');
const llamaSrc = () => ({ json: read('tokenizer.json'), config: JSON.parse(read('tokenizer_config.json')), specialTokensMap: JSON.parse(read('special_tokens_map.json')) });
const ids = { vocabSize: 32000, maskTokenId: 32000, bosId: 1, eosId: 2 };

describe('hf-tokenizer', () => {
  it("adds [MASK] past Llama-2's vocabulary as a special token, and names it mask_token", () => {
    const files = tokenizerFiles(llamaSrc(), ids);
    const tok = JSON.parse(files['tokenizer.json']);
    expect(tok.added_tokens.map((t: { id: number; content: string }) => [t.id, t.content])).toEqual([[0, '<unk>'], [1, '<s>'], [2, '</s>'], [32000, '[MASK]']]);
    expect(tok.added_tokens[3]).toEqual({ id: 32000, content: '[MASK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    // The rest of the tokenizer is untouched.
    const original = JSON.parse(read('tokenizer.json'));
    expect({ ...tok, added_tokens: original.added_tokens }).toEqual(original);

    const cfg = JSON.parse(files['tokenizer_config.json']);
    expect(cfg.mask_token).toBe('[MASK]');
    expect(cfg.added_tokens_decoder['32000']).toEqual({ content: '[MASK]', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true });
    expect(cfg.added_tokens_decoder['1'].content).toBe('<s>');
    expect(cfg.tokenizer_class).toBe('LlamaTokenizer');
    expect(JSON.parse(files['special_tokens_map.json']).mask_token).toEqual({ content: '[MASK]', lstrip: false, normalized: false, rstrip: false, single_word: false });
  });

  it("makes the tokenizer's own token at the mask id the mask token (a --mask-token-id override)", () => {
    const files = tokenizerFiles(llamaSrc(), { ...ids, maskTokenId: 0 });
    const tok = JSON.parse(files['tokenizer.json']);
    expect(tok.added_tokens.filter((t: { id: number }) => t.id === 0)).toEqual([{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }]);
    expect(JSON.parse(files['tokenizer_config.json']).mask_token).toBe('<unk>');
    // A piece of the model's vocabulary becomes an added special token, as add_special_tokens would make it.
    const piece = JSON.parse(tokenizerFiles(llamaSrc(), { ...ids, maskTokenId: 450 })['tokenizer.json']);
    expect(piece.added_tokens.at(-1)).toMatchObject({ id: 450, content: tokenAt(JSON.parse(read('tokenizer.json')), 450), special: true });
  });

  it('writes config files of its own where the run had none', () => {
    const files = tokenizerFiles({ json: read('tokenizer.json'), config: null, specialTokensMap: null }, ids);
    expect(JSON.parse(files['tokenizer_config.json'])).toEqual({
      tokenizer_class: 'PreTrainedTokenizerFast',
      bos_token: '<s>',
      eos_token: '</s>',
      added_tokens_decoder: { '32000': { content: '[MASK]', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true } },
      mask_token: '[MASK]',
    });
    expect(Object.keys(JSON.parse(files['special_tokens_map.json']))).toEqual(['bos_token', 'eos_token', 'mask_token']);
  });

  it('finds the token at an id: an added token first, then the BPE or Unigram vocabulary', () => {
    const doc = JSON.parse(read('tokenizer.json'));
    expect([tokenAt(doc, 1), tokenAt(doc, 29871), tokenAt(doc, 32000)]).toEqual(['<s>', '▁', null]);
    expect(tokenAt({ model: { type: 'Unigram', vocab: [['<pad>', 0], ['a', -1]] } }, 1)).toBe('a');
  });
});
