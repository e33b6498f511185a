import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Tokenizer as NativeTokenizer } from 'tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { buildJsTokenizer } from '../../pipeline/tokenize/js.ts';
import { createDecoder } from '../../pipeline/tokenize/decode.ts';
import { createEncoder, type Encoder } from '../../pipeline/tokenize/engines.ts';
import { loadTokenizer, type LoadedTokenizer } from '../../pipeline/tokenize/load.ts';
import { onigSource } from '../../pipeline/tokenize/regex.ts';
const ROOT = resolve(import.meta.dirname, '../..');
const FIX = resolve(ROOT, '../shared/fixtures');
const TOK = {
  llama2: join(FIX, 'tokenizers/llama2/tokenizer.json'),
  gpt2: join(FIX, 'tokenizers/gpt2/tokenizer.json'),
} as const;
type TokName = keyof typeof TOK;

const jsonlTexts = (file: string) =>
  readFileSync(join(FIX, file), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { text: string }).text);

const alpaca = (JSON.parse(readFileSync(join(FIX, 'alpaca/alpaca_head128.json'), 'utf8')) as Array<Record<string, string>>).flatMap(
  (r) => [r.instruction, r.input, r.output],
);

/** Every fixture document: both SlimPajama-layout chunks, the RedPajama arXiv records and the Alpaca fields. */
const DOCS: string[] = [
  ...jsonlTexts('slimpajama/chunk_0.jsonl'),
  ...jsonlTexts('slimpajama/chunk_1.jsonl'),
  ...jsonlTexts('redpajama/arxiv20.jsonl'),
  ...alpaca,
];

// The Unicode spaces on which JS's `\s` and Oniguruma's disagree or might.
const SPACES = ['\ufeff', '\u0085', '\u00a0', '\u3000', '\u2028', '\u2029', '\u180e', '\u200b', '\u1680', '\u2007', '\u202f', '\u205f', '\u000b', '\u000c', '\u001c'];
const EDGE: string[] = [
  ...SPACES.flatMap((s) => [`a${s}b`, `a ${s}b`, `!${s}!`, `1${s}1`, `${s}${s}x`, `x${s}`, `${s}`, `it's${s}'s`, `x ${s} y`]),
  'emoji 🙂😀👩🏽‍💻 and flags 🇩🇪',
  '日本語のテキスト、全角Ｆ。한국어 텍스트 中文',
  '\tindented\t\ttabs\t',
  'windows\r\nline\r\nendings\r\n\r\n',
  'trailing spaces   \n  leading',
  '   ',
  '',
  'x',
  'control \u0010 and LRM \u200e and C1 \u0092\u0096 and PUA \uf0a7',
  'new in Unicode 17: \u088f \u{323b0}\u{323b1} \u{11de0}',
  'lone surrogates \ud800 and \udfff end',
  'numbers 1234567 ٣٤٥ ⅷ ½',
  "contractions: I'm we'll they'd you've she's it'S",
];
/** Text that real corpora contain (WikiText, code, chat dumps) and that must stay text. */
const SPECIAL_TEXT = [
  '<s>',
  '</s>',
  '<unk>',
  '<|endoftext|>',
  'a<s>b</s>c<unk>d<|endoftext|>e',
  'Tokens like <s> and </s> appear in papers; so does <unk> in WikiText.',
  'if (x < s > y) return "</s>"; // <|endoftext|>',
  '<s><s></s></s><|endoftext|><|endoftext|>',
  ' <s> ',
  '[MASK] <mask>',
];

const sha = (arrays: Int32Array[]) => {
  const h = createHash('sha256');
  for (const a of arrays) {
    h.update(Int32Array.of(a.length));
    h.update(a);
  }
  return h.digest('hex');
};

const asLists = (arrays: Int32Array[]) => arrays.map((a) => Array.from(a));

const tmpDirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'meap-tok-'));
  tmpDirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const loaded = {} as Record<TokName, LoadedTokenizer>;
const nativeEnc = {} as Record<TokName, Encoder>;
/** Native ids of every fixture document, the reference every other engine and setting is held to. */
const nativeIds = {} as Record<TokName, Int32Array[]>;

beforeAll(async () => {
  for (const name of ['llama2', 'gpt2'] as const) {
    loaded[name] = await loadTokenizer(TOK[name]);
    // The first native encoder sizes rayon's pool for this whole process: 2 threads.
    nativeEnc[name] = await createEncoder(loaded[name], 'native', 2);
    nativeIds[name] = await nativeEnc[name].encodeBatch(DOCS);
  }
});

describe('native and js engines agree', () => {
  it('the fixtures hold the documents this is about', () => {
    expect(DOCS.length).toBe(153 + 141 + 20 + 3 * 128);
    expect(DOCS.some((d) => d.includes('\ufeff'))).toBe(true);
    expect(DOCS.some((d) => /\p{Script=Hangul}/u.test(d) && d.includes('\ufeff'))).toBe(true);
    expect(DOCS.some((d) => d.includes('\u{1F642}'))).toBe(true);
  });

  for (const name of ['llama2', 'gpt2'] as const) {
    it(`${name}: identical ids on every fixture document`, async () => {
      // JS BPE over whole Llama-2 documents is slow; two threads halve the wait.
      const js = await createEncoder(loaded[name], 'js', 2);
      try {
        const ids = await js.encodeBatch(DOCS);
        expect(ids.length).toBe(DOCS.length);
        const bad = DOCS.map((_, i) => i).filter((i) => nativeIds[name][i].join() !== ids[i].join());
        expect(bad).toEqual([]);
      } finally {
        await js.close();
      }
    });

    it(`${name}: identical ids on edge strings`, async () => {
      const js = await createEncoder(loaded[name], 'js', 1);
      const a = await nativeEnc[name].encodeBatch(EDGE);
      const b = await js.encodeBatch(EDGE);
      EDGE.forEach((text, i) => expect(Array.from(b[i]), JSON.stringify(text)).toEqual(Array.from(a[i])));
    });
  }

  it('gpt2: the JS pre-tokenizer classes every code point as Oniguruma does', () => {
    const json = loaded.gpt2.plainJson;
    const native = NativeTokenizer.fromString(json).getPreTokenizer()!;
    const js = buildJsTokenizer(json).pre_tokenizer!;
    // Sort every code point by the patched JS classes; each group must then be a single ByteLevel
    // piece (\p{L}+, \p{N}+, \s+ or [^\s\p{L}\p{N}]+) for both engines, so no code point is classed differently.
    const is = (cls: string) => new RegExp(onigSource(`^${cls}$`, 'u'), 'u');
    const [L, N, S] = [is('\\p{L}'), is('\\p{N}'), is('\\s')];
    const groups: Record<string, string[]> = { L: [], N: [], S: [], other: [] };
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      groups[L.test(c) ? 'L' : N.test(c) ? 'N' : S.test(c) ? 'S' : 'other'].push(c);
    }
    expect(groups.S.length).toBe(25);
    for (const [name, chars] of Object.entries(groups)) {
      const text = chars.join('');
      const n = native.preTokenizeString(text).map((p) => p[0]);
      const j = js(text) as string[];
      // On failure, name the first code point where the native engine splits.
      const first = n.length > 1 ? [...text.slice(native.preTokenizeString(text)[1][1][0])][0]?.codePointAt(0)?.toString(16) : undefined;
      expect({ name, pieces: n.length, first }).toEqual({ name, pieces: 1, first: undefined });
      expect(j).toEqual(n);
    }
  });

  it('rewrites \\s, \\S, \\p{L}, \\p{N} and leaves escaped backslashes', () => {
    const src = onigSource('\\\\s[\\\\s]\\s[^\\s]\\S[\\]\\S]', 'u');
    const re = new RegExp(src, 'u');
    expect(src.startsWith('\\\\s[\\\\s]')).toBe(true);
    expect(re.test('\\s\\\u0085\ufeff\ufeff]')).toBe(true);
    expect(new RegExp(onigSource('^\\s$', 'u'), 'u').test('\ufeff')).toBe(false);
    expect(new RegExp(onigSource('^\\s$', 'u'), 'u').test('\u0085')).toBe(true);
    expect(new RegExp(onigSource('^[\\S]$', 'u'), 'u').test('\u{1F642}')).toBe(true);
    expect(new RegExp(onigSource('^[^\\s\\p{L}]$', 'u'), 'u').test('\u{323b0}')).toBe(true);
    expect(new RegExp(onigSource('^\\p{L}$', 'u'), 'u').test('\u{323b0}')).toBe(false);
    expect(new RegExp(onigSource('^\\p{L}$', 'u'), 'u').test('é')).toBe(true);
    expect(new RegExp(onigSource('^\\s$', ''), '').test('\u3000')).toBe(true);
  });
});

describe('special tokens in text stay text', () => {
  for (const name of ['llama2', 'gpt2'] as const) {
    it(`${name}: no special id from any document, with either engine, and decoding gives the text back`, async () => {
      const tok = loaded[name];
      const dec = await createDecoder(tok);
      const js = await createEncoder(tok, 'js', 1);
      const a = await nativeEnc[name].encodeBatch(SPECIAL_TEXT);
      const b = await js.encodeBatch(SPECIAL_TEXT);
      expect(asLists(b)).toEqual(asLists(a));
      SPECIAL_TEXT.forEach((text, i) => {
        expect(a[i].some((id) => tok.specialIds.has(id)), text).toBe(false);
        expect(dec.decode(a[i])).toBe(text);
      });
      if (name === 'llama2') expect(Array.from(a[0])).toEqual([529, 29879, 29958]);
      if (name === 'gpt2') expect(a[3].includes(50256)).toBe(false);
      for (const ids of nativeIds[name]) expect(ids.some((id) => tok.specialIds.has(id))).toBe(false);
    });

    it(`${name}: every fixture document decodes back to itself, as the native decoder does`, async () => {
      const dec = await createDecoder(loaded[name]);
      // SentencePiece's own lossiness: a literal U+2581 in text is the piece for a space (a llama2.c doc has one).
      const expected = (t: string) => (name === 'llama2' ? t.replaceAll('\u2581', ' ') : t);
      const bad = DOCS.map((_, i) => i).filter((i) => dec.decode(nativeIds[name][i]) !== expected(DOCS[i]));
      expect(bad).toEqual([]);
      const native = NativeTokenizer.fromString(loaded[name].fullJson);
      const nativeText = await native.decodeBatch(nativeIds[name].map((a) => Array.from(a)), false);
      const differ = DOCS.map((_, i) => i).filter((i) => nativeText[i] !== dec.decode(nativeIds[name][i]));
      expect(differ).toEqual([]);
    });
  }

  it('the decoder shows special tokens as their text and renders single pieces', async () => {
    const dec = await createDecoder(loaded.llama2);
    const [hello] = await nativeEnc.llama2.encodeBatch(['Hello world']);
    expect(dec.decode([1, ...hello, 2])).toBe('<s> Hello world</s>');
    expect(dec.decode([])).toBe('');
    expect(dec.tokenText(1)).toBe('<s>');
    expect(hello.length).toBe(2);
    expect(dec.tokenText(hello[1])).toBe(' world');
    expect(dec.tokenText(13)).toBe('\n');
    expect(() => dec.decode([32000])).toThrow(RangeError);
    const g = await createDecoder(loaded.gpt2);
    expect(g.decode([50256])).toBe('<|endoftext|>');
    expect(g.tokenText(995)).toBe(' world');
  });
});

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

describe('worker count does not change ids', () => {
  for (const name of ['llama2', 'gpt2'] as const) {
    it(`${name}: js engine, 1 and 2 threads`, async () => {
      // JS Llama-2 on all documents is the slowest thing here; the shorter ones still cover every kind of text.
      const idx = DOCS.map((_, i) => i).filter((i) => name === 'gpt2' || DOCS[i].length < 8000);
      const texts = idx.map((i) => DOCS[i]);
      const one = await createEncoder(loaded[name], 'js', 1);
      const two = await createEncoder(loaded[name], 'js', 2);
      try {
        const a = await one.encodeBatch(texts);
        const b = await two.encodeBatch(texts);
        const ref = idx.map((i) => nativeIds[name][i]);
        expect(sha(a)).toBe(sha(ref));
        expect(sha(b)).toBe(sha(ref));
        expect(await two.encodeBatch([])).toEqual([]);
      } finally {
        await two.close();
        await one.close();
      }
    });
  }

  it('native engine, 1 thread (in a fresh process: rayon sizes its pool once) and 2 threads', async () => {
    const d = tmp();
    const textsFile = join(d, 'texts.json');
    writeFileSync(textsFile, JSON.stringify(DOCS));
    const script = `
      import { createHash } from 'node:crypto';
      import { readFileSync } from 'node:fs';
      import { createEncoder } from ${JSON.stringify(join(ROOT, 'pipeline/tokenize/engines.ts'))};
      import { loadTokenizer } from ${JSON.stringify(join(ROOT, 'pipeline/tokenize/load.ts'))};
      const texts = JSON.parse(readFileSync(process.env.TEXTS, 'utf8'));
      const out = {};
      for (const [name, path] of Object.entries(JSON.parse(process.env.TOKS))) {
        const enc = await createEncoder(await loadTokenizer(path), 'native', 1);
        const h = createHash('sha256');
        for (const a of await enc.encodeBatch(texts)) { h.update(Int32Array.of(a.length)); h.update(a); }
        out[name] = h.digest('hex');
      }
      console.log(JSON.stringify({ rayon: process.env.RAYON_NUM_THREADS, out }));
    `;
    const env: NodeJS.ProcessEnv = { ...process.env, TEXTS: textsFile, TOKS: JSON.stringify(TOK) };
    delete env.RAYON_NUM_THREADS;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      env,
      maxBuffer: 1 << 20,
    });
    const child = JSON.parse(stdout.trim().split('\n').pop()!) as { rayon: string; out: Record<TokName, string> };
    expect(child.rayon).toBe('1');
    expect(process.env.RAYON_NUM_THREADS).toBe('2');
    expect(child.out).toEqual({ llama2: sha(nativeIds.llama2), gpt2: sha(nativeIds.gpt2) });
  });
});
