/** What the bpe engine accepts, what it refuses and why, and the regex rewrites it relies on. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { byteLevelChars, expandCaseless, loadBpeModel, SPIECE } from '../../../../pipeline/tokenize/bpe/bpe-model.ts';
import { loadTokenizer } from '../../../../pipeline/tokenize/load.ts';
import { LLAMA3, TOK } from '../helpers.ts';

/** A tiny SentencePiece-style tokenizer.json; `merges` decides whether the split is exact. */
const spiece = (merges: string[][], extra: Record<string, unknown> = {}) => {
  const pieces = [SPIECE, 'a', 'b', `${SPIECE}a`, 'ab', `a${SPIECE}`, `${SPIECE}${SPIECE}`, '<unk>'];
  return JSON.stringify({
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: SPIECE }, { type: 'Replace', pattern: { String: ' ' }, content: SPIECE }] },
    pre_tokenizer: null,
    added_tokens: [],
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: false, fuse_unk: true, vocab: Object.fromEntries(pieces.map((p, i) => [p, i])), merges },
    ...extra,
  });
};

describe('loadBpeModel', () => {
  it('proves Llama-2 SentencePiece-style, GPT-2 and Llama-3 ByteLevel', async () => {
    for (const [path, kind] of [
      [TOK.llama2, 'sentencepiece'],
      [TOK.gpt2, 'bytelevel'],
      [LLAMA3, 'bytelevel'],
    ] as const) {
      const load = loadBpeModel((await loadTokenizer(path)).plainJson);
      expect(load.ok && load.model.kind, path).toBe(kind);
    }
  });

  it('tells whether two tokens share an id, which rules out the linear merge', () => {
    const load = loadBpeModel(spiece([]));
    expect(load.ok && load.model.injective).toBe(true);
    const doc = JSON.parse(spiece([]));
    doc.model.vocab.b = doc.model.vocab.a;
    const shared = loadBpeModel(JSON.stringify(doc));
    expect(shared.ok && shared.model.injective).toBe(false);
  });

  it('accepts merges inside a piece and between runs of ▁', () => {
    const load = loadBpeModel(spiece([[SPIECE, 'a'], ['a', 'b'], [SPIECE, SPIECE]]));
    expect(load.ok).toBe(true);
  });

  it('refuses a merge that joins a word to the ▁ after it, naming it', () => {
    const load = loadBpeModel(spiece([['a', SPIECE]]));
    expect(load).toEqual({ ok: false, why: `merge "a" + "${SPIECE}" joins a word to the "${SPIECE}" after it` });
  });

  it('refuses models and shapes it cannot split exactly, with the reason', () => {
    const wordPiece = JSON.stringify({ model: { type: 'WordPiece', vocab: { a: 0 } } });
    expect(loadBpeModel(wordPiece)).toEqual({ ok: false, why: 'the model is WordPiece, not BPE' });
    const nfkc = spiece([], { normalizer: { type: 'NFKC' } });
    expect(loadBpeModel(nfkc)).toMatchObject({ ok: false, why: expect.stringContaining('neither SentencePiece-style nor ByteLevel') });
    const added = spiece([], { added_tokens: [{ id: 9, content: '<x>', special: false }] });
    expect(loadBpeModel(added)).toEqual({ ok: false, why: 'it has non-special added tokens' });
    const dropout = JSON.parse(spiece([]));
    dropout.model.dropout = 0.1;
    expect(loadBpeModel(JSON.stringify(dropout))).toEqual({ ok: false, why: 'BPE dropout is set' });
    const outside = spiece([['a', 'zz']]);
    expect(loadBpeModel(outside)).toEqual({ ok: false, why: 'merge 0 names a token outside the vocab' });
  });

  it('reads both spellings of merges: "a b" strings and [a, b] pairs', () => {
    const gpt2 = JSON.parse(readFileSync(TOK.gpt2, 'utf8'));
    expect(typeof gpt2.model.merges[0]).toBe('string');
    const llama2 = JSON.parse(readFileSync(TOK.llama2, 'utf8'));
    expect(Array.isArray(llama2.model.merges[0])).toBe(true);
  });
});

describe('byteLevelChars', () => {
  it('is GPT-2 bytes_to_unicode: printable bytes as themselves, the rest from U+0100, all distinct', () => {
    const chars = byteLevelChars();
    expect(chars[0x41]).toBe('A');
    expect(chars[0x20]).toBe('Ġ');
    expect(chars[0x0a]).toBe('Ċ');
    expect(chars[0]).toBe('\u0100');
    expect(new Set(chars).size).toBe(256);
  });
});

describe('expandCaseless', () => {
  it("spells Oniguruma's (?i:...) as classes, with ſ and K, leaving the rest alone", () => {
    expect(expandCaseless("(?i:'s|'ll)|x")).toBe("(?:'[sSſ]|'[lL][lL])|x");
    const re = new RegExp(`^${expandCaseless("(?i:'s|'k)")}$`, 'u');
    for (const ok of ["'s", "'S", "'ſ", "'k", "'K", "'\u212a"]) expect(re.test(ok), ok).toBe(true);
    expect(re.test("'x")).toBe(false);
  });
});
