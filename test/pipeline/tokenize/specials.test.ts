import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { createDecoder } from '../../../pipeline/tokenize/decode.ts';
import { createEncoder } from '../../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../../../pipeline/tokenize/load.ts';
import { FIX, TOK, useTempDirs, useTokenizers } from './helpers.ts';

const tmp = useTempDirs();
const { loaded } = useTokenizers();

describe('special ids', () => {
  it('come from the fixture folders as the real tokenizers use them', () => {
    expect(loaded.llama2.specials).toEqual({ bosId: 1, eosId: 2, maskTokenId: 32000, vocabSize: 32000 });
    expect(loaded.gpt2.specials).toEqual({ bosId: null, eosId: 50256, maskTokenId: 50257, vocabSize: 50257 });
    expect([...loaded.llama2.specialIds].sort((x, y) => x - y)).toEqual([0, 1, 2, 32000]);
    expect([...loaded.gpt2.specialIds].sort((x, y) => x - y)).toEqual([50256, 50257]);
    expect(loaded.llama2.sha256).toBe(createHash('sha256').update(readFileSync(TOK.llama2)).digest('hex'));
    expect(loaded.llama2.path).toBe(TOK.llama2);
    expect(loaded.llama2.fullJson).toBe(readFileSync(TOK.llama2, 'utf8'));
    const plain = JSON.parse(loaded.llama2.plainJson);
    expect(plain.added_tokens).toEqual([]);
    expect(plain.post_processor).toBeNull();
  });

  it('overrides come first', async () => {
    const t = await loadTokenizer(TOK.llama2, { bosId: 5, eosId: 7, maskTokenId: 31999 });
    expect(t.specials).toEqual({ bosId: 5, eosId: 7, maskTokenId: 31999, vocabSize: 32000 });
    expect([...t.specialIds].sort((x, y) => x - y)).toEqual([0, 1, 2, 5, 7, 31999]);
    const g = await loadTokenizer(TOK.gpt2, { bosId: 50256 });
    expect(g.specials.bosId).toBe(50256);
  });

  it('tokenizer_config.json and special_tokens_map.json beside tokenizer.json come next', async () => {
    const d = tmp();
    writeFileSync(join(d, 'tokenizer.json'), readFileSync(TOK.llama2));
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: false, bos_token: '<s>', eos_token: '<unk>' }));
    expect((await loadTokenizer(join(d, 'tokenizer.json'))).specials).toMatchObject({ bosId: null, eosId: 0 });
    // special_tokens_map.json wins over tokenizer_config.json, as in transformers; tokens may be {content} objects.
    writeFileSync(join(d, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '</s>' }, bos_token: '<unk>' }));
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, bos_token: '<s>', eos_token: '<unk>' }));
    expect((await loadTokenizer(join(d, 'tokenizer.json'))).specials).toMatchObject({ bosId: 0, eosId: 2 });
    // Without add_bos_token the template decides.
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<unk>' }));
    expect((await loadTokenizer(join(d, 'tokenizer.json'))).specials).toMatchObject({ bosId: 1, eosId: 2 });
  });

  it('without config files the post-processor template decides', async () => {
    const d = tmp();
    writeFileSync(join(d, 'tokenizer.json'), readFileSync(TOK.llama2));
    expect((await loadTokenizer(join(d, 'tokenizer.json'))).specials).toEqual({ bosId: 1, eosId: null, maskTokenId: 32000, vocabSize: 32000 });
    const g = tmp();
    writeFileSync(join(g, 'tokenizer.json'), readFileSync(TOK.gpt2));
    expect((await loadTokenizer(join(g, 'tokenizer.json'))).specials).toEqual({ bosId: null, eosId: null, maskTokenId: 50257, vocabSize: 50257 });
    // A Sequence post-processor holding a template with a trailing special token.
    const s = tmp();
    const doc = JSON.parse(readFileSync(TOK.llama2, 'utf8'));
    doc.post_processor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
          pair: [],
          special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] }, '</s>': { id: '</s>', ids: [2], tokens: ['</s>'] } },
        },
      ],
    };
    writeFileSync(join(s, 'tokenizer.json'), JSON.stringify(doc));
    expect((await loadTokenizer(join(s, 'tokenizer.json'))).specials).toMatchObject({ bosId: 1, eosId: 2 });
  });

  it("uses the tokenizer's own [MASK] / <mask> token, and documents never produce it", async () => {
    const d = tmp();
    const doc = JSON.parse(readFileSync(TOK.gpt2, 'utf8'));
    doc.added_tokens.push({ id: 50257, content: '[MASK]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(doc));
    writeFileSync(join(d, 'tokenizer_config.json'), readFileSync(join(FIX, 'tokenizers/gpt2/tokenizer_config.json')));
    const t = await loadTokenizer(join(d, 'tokenizer.json'));
    expect(t.specials).toEqual({ bosId: null, eosId: 50256, maskTokenId: 50257, vocabSize: 50258 });

    // A non-special <mask> is still the mask, and is still taken out of what documents are encoded with.
    const m = tmp();
    doc.added_tokens[1] = { id: 50257, content: '<mask>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: false };
    writeFileSync(join(m, 'tokenizer.json'), JSON.stringify(doc));
    const t2 = await loadTokenizer(join(m, 'tokenizer.json'));
    expect(t2.specials.maskTokenId).toBe(50257);
    for (const tok of [t, t2]) {
      const texts = ['a [MASK] b <mask> c'];
      const native = await createEncoder(tok, 'native', 2);
      const js = await createEncoder(tok, 'js', 1);
      const [a] = await native.encodeBatch(texts);
      const [b] = await js.encodeBatch(texts);
      expect(Array.from(b)).toEqual(Array.from(a));
      expect(a.includes(50257)).toBe(false);
      expect((await createDecoder(tok)).decode(a)).toBe(texts[0]);
    }
  });

  it('fails with one-line tokenizer errors naming the file', async () => {
    const d = tmp();
    const expectErr = async (p: Promise<unknown>, file: string, text: RegExp) => {
      const e = await p.then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(MeapError);
      const err = e as MeapError;
      expect(err.kind).toBe('tokenizer');
      expect(err.message).not.toContain('\n');
      expect(err.message).toContain(file);
      expect(err.message).toMatch(text);
    };
    const missing = join(d, 'nope', 'tokenizer.json');
    await expectErr(loadTokenizer(missing), missing, /not found/);
    const bad = join(d, 'bad.json');
    writeFileSync(bad, '{"model": ');
    await expectErr(loadTokenizer(bad), bad, /not valid JSON/);
    const odd = join(d, 'odd.json');
    writeFileSync(odd, JSON.stringify({ model: { type: 'Mystery', vocab: {} }, added_tokens: [] }));
    await expectErr(loadTokenizer(odd), odd, /unsupported tokenizer\.json/);
    writeFileSync(odd, JSON.stringify([1, 2]));
    await expectErr(loadTokenizer(odd), odd, /unsupported tokenizer\.json/);
    await expectErr(loadTokenizer(TOK.llama2, { bosId: 32000 }), TOK.llama2, /out of range/);
    await expectErr(loadTokenizer(TOK.llama2, { eosId: -1 }), TOK.llama2, /out of range/);
    await expectErr(loadTokenizer(TOK.llama2, { maskTokenId: 32001 }), TOK.llama2, /out of range/);
    expect((await loadTokenizer(TOK.llama2, { maskTokenId: 32000 })).specials.maskTokenId).toBe(32000);
    const cfgDir = tmp();
    writeFileSync(join(cfgDir, 'tokenizer.json'), readFileSync(TOK.gpt2));
    writeFileSync(join(cfgDir, 'tokenizer_config.json'), '{oops');
    await expectErr(loadTokenizer(join(cfgDir, 'tokenizer.json')), join(cfgDir, 'tokenizer_config.json'), /invalid JSON/);
  });
});
