/** The bpe tables' cache: the same model as a build, rebuilt when its file is damaged, keyed by the code that builds it. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bpeEncoder } from '../../../../pipeline/tokenize/encoder.ts';
import { loadBpeModel, type BpeLoad } from '../../../../pipeline/tokenize/bpe/bpe-model.ts';
import { cachedBpeModel, encodeTables, readTables, SOURCES } from '../../../../pipeline/tokenize/bpe/table-cache.ts';
import { loadTokenizer } from '../../../../pipeline/tokenize/load.ts';
import { tempDir } from '../../../helpers/cli.ts';
import { TOK } from '../helpers.ts';

afterEach(() => vi.unstubAllEnvs());

const files = (cache: string) => fs.readdirSync(path.join(cache, 'bpe')).map((f) => path.join(cache, 'bpe', f));
/** Deep equality, with the big typed arrays compared as bytes (vitest compares them element by element, slowly). */
function expectSame(got: BpeLoad | null, want: BpeLoad): void {
  const flat = (l: BpeLoad) => {
    if (!l.ok) return { load: l, arrays: [] };
    const { vocab, merges, byteFallback, byteIds, ...rest } = l.model;
    const arrays = [...Object.values(vocab), ...Object.values(merges), byteFallback, byteIds].map((a) => a && Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64'));
    return { load: rest, arrays };
  };
  expect(got).not.toBeNull();
  const [g, w] = [flat(got!), flat(want)];
  expect(g.load).toEqual(w.load);
  expect(g.arrays.length).toBe(w.arrays.length);
  g.arrays.forEach((a, i) => expect(a === w.arrays[i], `array ${i}`).toBe(true));
}
const shared = (load: BpeLoad) => load.ok && [load.model.vocab.units, load.model.merges.slots].every((a) => a.buffer instanceof SharedArrayBuffer);

describe('cachedBpeModel', () => {
  it('gives what loadBpeModel gives, from one file per tokenizer, on shared memory, with the same ids', async () => {
    const cache = tempDir('meap-cache-');
    vi.stubEnv('MEAP_CACHE', cache);
    for (const tokenizer of [TOK.llama2, TOK.gpt2]) {
      const { plainJson } = await loadTokenizer(tokenizer);
      const built = loadBpeModel(plainJson);
      expectSame(await cachedBpeModel(plainJson), built);
      const read = await cachedBpeModel(plainJson);
      expectSame(read, built);
      expect(shared(read)).toBe(true);
      if (!read.ok || !built.ok) throw new Error('bpe refused a fixture');
      const text = ['Hello world, naïve café 日本語 <s> 12345'];
      expect(await bpeEncoder(read.model).encodeBatch(text)).toEqual(await bpeEncoder(built.model).encodeBatch(text));
    }
    expect(files(cache)).toHaveLength(2);
  });

  it('keeps refusals too, with their reason', async () => {
    vi.stubEnv('MEAP_CACHE', tempDir('meap-cache-'));
    const json = JSON.stringify({ model: { type: 'WordPiece', vocab: {} } });
    expect(await cachedBpeModel(json)).toEqual({ ok: false, why: 'the model is WordPiece, not BPE' });
    expect(await cachedBpeModel(json)).toEqual({ ok: false, why: 'the model is WordPiece, not BPE' });
  });

  it('builds again, and writes the file again, where it is truncated, damaged or not a table file', async () => {
    const cache = tempDir('meap-cache-');
    vi.stubEnv('MEAP_CACHE', cache);
    const { plainJson } = await loadTokenizer(TOK.gpt2);
    const built = loadBpeModel(plainJson);
    await cachedBpeModel(plainJson);
    const [file] = files(cache);
    const good = fs.readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 100] ^= 1;
    for (const bad of [good.subarray(0, good.length - 8), flipped, Buffer.from('not a table\n'), Buffer.alloc(0)]) {
      fs.writeFileSync(file, bad);
      expect(readTables(file)).toBeNull();
      expectSame(await cachedBpeModel(plainJson), built);
      expect(fs.readFileSync(file).equals(good)).toBe(true);
    }
  });

  it('still loads where the cache cannot be written', async () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    vi.stubEnv('MEAP_CACHE', path.join(file, 'cache'));
    const { plainJson } = await loadTokenizer(TOK.gpt2);
    expectSame(await cachedBpeModel(plainJson), loadBpeModel(plainJson));
  });

  it('round-trips a model through encodeTables and readTables', async () => {
    const built = loadBpeModel((await loadTokenizer(TOK.llama2)).plainJson);
    const file = path.join(tempDir(), 't.bin');
    fs.writeFileSync(file, encodeTables(built));
    expectSame(readTables(file), built);
  });

  it('is keyed by every module of ours that model.ts imports, so an edit to any of them builds afresh', () => {
    const seen = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const [, spec] of fs.readFileSync(file, 'utf8').matchAll(/^import (?!type )[^;]*? from '(\.[^']+)';/gm)) walk(path.resolve(path.dirname(file), spec));
    };
    const model = fileURLToPath(new URL('../../../../pipeline/tokenize/bpe/bpe-model.ts', import.meta.url));
    walk(model);
    const ours = [...seen].filter((f) => f.includes(`${path.sep}pipeline${path.sep}tokenize${path.sep}`));
    const keyed = SOURCES.map((u) => fileURLToPath(u));
    for (const f of ours) expect(keyed).toContain(f);
  });
});
