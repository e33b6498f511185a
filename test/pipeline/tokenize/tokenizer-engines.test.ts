/**
 * The native and JS engines give the same ids, for any worker count. The JS pool runs
 * pipeline/tokenize/worker.ts (through worker.js), so this file covers the worker too.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createEncoder, resolveEngine } from '../../../pipeline/tokenize/tokenizer-engines.ts';
import { DOCS, ROOT, TOK, TOK_NAMES, useTempDirs, useTokenizers, type TokName } from './helpers.ts';

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

const sha = (arrays: Int32Array[]) => {
  const h = createHash('sha256');
  for (const a of arrays) {
    h.update(Int32Array.of(a.length));
    h.update(a);
  }
  return h.digest('hex');
};

const tmp = useTempDirs();
const { loaded, nativeEnc, nativeIds } = useTokenizers({ encode: true });

describe('native and js engines agree', () => {
  it('the fixtures hold the documents this is about', () => {
    expect(DOCS.length).toBe(153 + 141 + 20 + 3 * 128);
    expect(DOCS.some((d) => d.includes('\ufeff'))).toBe(true);
    expect(DOCS.some((d) => /\p{Script=Hangul}/u.test(d) && d.includes('\ufeff'))).toBe(true);
    expect(DOCS.some((d) => d.includes('\u{1F642}'))).toBe(true);
  });

  for (const name of TOK_NAMES) {
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

  it('refuses a worker count below one, for either engine', async () => {
    for (const engine of ['bpe', 'native', 'js'] as const) {
      await expect(createEncoder(loaded.gpt2, engine, 0)).rejects.toThrow(RangeError);
      await expect(createEncoder(loaded.gpt2, engine, 1.5)).rejects.toThrow(RangeError);
    }
  });
});

describe('worker count does not change ids', () => {
  for (const name of TOK_NAMES) {
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

  for (const name of TOK_NAMES) {
    it(`${name}: bpe engine, in this thread and on a pool of 2, with the pool's tables shared`, async () => {
      const one = await createEncoder(loaded[name], 'bpe', 1);
      const two = await createEncoder(loaded[name], 'bpe', 2);
      try {
        expect(sha(await one.encodeBatch(DOCS))).toBe(sha(nativeIds[name]));
        expect(sha(await two.encodeBatch(DOCS))).toBe(sha(nativeIds[name]));
        expect(await two.encodeBatch([])).toEqual([]);
      } finally {
        await two.close();
        await one.close();
      }
    });
  }

  it('bpe falls back to native, with the reason, where its split is not proven', async () => {
    const doc = JSON.parse(loaded.llama2.plainJson);
    doc.normalizer.normalizers.unshift({ type: 'NFKC' });
    const tok = { ...loaded.llama2, plainJson: JSON.stringify(doc) };
    const resolved = await resolveEngine(tok, 'bpe');
    expect(resolved).toEqual({ engine: 'native', fallback: expect.stringContaining('neither SentencePiece-style nor ByteLevel') });
    expect((await resolveEngine(loaded.gpt2, 'bpe')).engine).toBe('bpe');
    expect(await resolveEngine(loaded.gpt2, 'js')).toEqual({ engine: 'js' });
    const enc = await createEncoder(tok, resolved, 1);
    const [ids] = await enc.encodeBatch(['ﬁ ligature']);
    expect(ids.length).toBeGreaterThan(0);
  });

  it('native engine, 1 thread (in a fresh process: rayon sizes its pool once) and 2 threads', async () => {
    const d = tmp();
    const textsFile = join(d, 'texts.json');
    writeFileSync(textsFile, JSON.stringify(DOCS));
    const script = `
      import { createHash } from 'node:crypto';
      import { readFileSync } from 'node:fs';
      import { createEncoder } from ${JSON.stringify(join(ROOT, 'pipeline/tokenize/tokenizer-engines.ts'))};
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
