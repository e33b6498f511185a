/** Also the tests of datasets/hub/http.ts: retries, Retry-After, redirects to the CDN and where the token goes are seen here. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { download, fetchTokenizer } from '../../../datasets/hub/download.ts';
import { parseHfUri } from '../../../datasets/hub/uri.ts';
import { bytes, cacheDir, cdnFor, expectNoToken, logs, MODEL_SHA, modelRepo, opts, resolves, serve, SHA, slimRepo, TOKEN, useFakeHub, walk } from './setup.ts';

useFakeHub();

describe('hub downloads', () => {

  it('survives drops, 503, 429 and an ignored Range; keeps the token off the CDN; reuses the cache', async () => {
    const hub = await serve([
      await slimRepo({
        'data/chunk_0.jsonl.zst': [{ kind: 'drop', afterBytes: 100_000 }],
        'data/chunk_1.jsonl.zst': [
          { kind: 'status', status: 503, retryAfter: '1' },
          { kind: 'status', status: 429 },
        ],
        'sft/alpaca_head128.parquet': [{ kind: 'drop', afterBytes: 20_000 }, { kind: 'ignoreRange' }],
      }),
    ]);
    const ref = parseHfUri('hf://datasets/acme/slim@main');
    const res = await download(ref, { ...opts(), token: TOKEN, include: ['data/*.jsonl.zst', 'sft/**', 'README.md'] });
    expect(res.sha).toBe(SHA);
    expect(res.files.map((f) => f.path)).toEqual([
      'README.md',
      'data/chunk_0.jsonl.zst',
      'data/chunk_1.jsonl.zst',
      'sft/alpaca_head128.parquet',
    ]);
    const root = path.join(cacheDir, 'hub', 'datasets', 'acme--slim', SHA);
    const src: Record<string, Buffer> = {
      'README.md': Buffer.from('# slim\n'),
      'data/chunk_0.jsonl.zst': await bytes('slimpajama/chunk_0.jsonl.zst'),
      'data/chunk_1.jsonl.zst': await bytes('slimpajama/chunk_1.jsonl.zst'),
      'sft/alpaca_head128.parquet': await bytes('alpaca/alpaca_head128.parquet'),
    };
    for (const f of res.files) {
      expect(f.local).toBe(path.join(root, f.path));
      expect(f.uri).toBe(`hf://datasets/acme/slim@${SHA}/${f.path}`);
      expect((await fs.readFile(f.local)).equals(src[f.path])).toBe(true);
    }
    expect((await walk(cacheDir)).map((p) => path.relative(root, p)).sort()).toEqual(Object.keys(src).sort());

    // The dropped transfer resumed where the bytes on disk ended, guarded by the ETag.
    const c0 = cdnFor('data/chunk_0.jsonl.zst');
    expect(c0).toHaveLength(2);
    expect(c0[0].headers.range).toBeUndefined();
    const start = Number(/^bytes=(\d+)-$/.exec(String(c0[1].headers.range))?.[1]);
    expect(start).toBeGreaterThan(0);
    expect(start).toBeLessThanOrEqual(100_000);
    expect(c0[1].headers['if-range']).toBe(hub.etagOf('acme/slim', 'data/chunk_0.jsonl.zst'));

    // The CDN ignored the range on the retry: the file was started over, not appended to.
    const al = cdnFor('sft/alpaca_head128.parquet');
    expect(al).toHaveLength(2);
    expect(al[1].headers.range).toMatch(/^bytes=\d+-$/);

    // 503 with Retry-After: 1 was honoured, then the 429 retried quickly.
    const r1 = resolves().filter((r) => r.url.endsWith('/data/chunk_1.jsonl.zst'));
    expect(r1).toHaveLength(3);
    expect(r1[1].at - r1[0].at).toBeGreaterThanOrEqual(900);

    // The token went to the hub's own host and nowhere else.
    expect(resolves().every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expectNoToken();
    expect(logs.some((l) => l.includes('HTTP 503'))).toBe(true);

    // A second run finds every file in the cache: no resolve, nothing from the CDN.
    const before = { resolves: resolves().length, cdn: hub.cdnRequests.length };
    const again = await download(parseHfUri(`hf://datasets/acme/slim@main/{data/chunk_?.jsonl.zst,sft/**,README.md}`), {
      ...opts(),
      token: TOKEN,
    });
    expect(again.files).toEqual(res.files);
    expect(resolves()).toHaveLength(before.resolves);
    expect(hub.cdnRequests).toHaveLength(before.cdn);
  });

  it('resumes a .part left by a crashed run with Range and If-Range', async () => {
    const hub = await serve([await slimRepo()]);
    const data = await bytes('slimpajama/chunk_1.jsonl.zst');
    const local = path.join(cacheDir, 'hub', 'datasets', 'acme--slim', SHA, 'data', 'chunk_1.jsonl.zst');
    await fs.mkdir(path.dirname(local), { recursive: true });
    await fs.writeFile(`${local}.part`, data.subarray(0, 12_345));
    await fs.writeFile(`${local}.part.etag`, hub.etagOf('acme/slim', 'data/chunk_1.jsonl.zst'));
    const res = await download(parseHfUri(`hf://datasets/acme/slim@${SHA}/data/chunk_1.jsonl.zst`), opts());
    expect(res.files.map((f) => f.local)).toEqual([local]);
    expect((await fs.readFile(local)).equals(data)).toBe(true);
    const seen = cdnFor('data/chunk_1.jsonl.zst');
    expect(seen).toHaveLength(1);
    expect(seen[0].headers.range).toBe('bytes=12345-');
    expect(seen[0].headers['if-range']).toBe(hub.etagOf('acme/slim', 'data/chunk_1.jsonl.zst'));
    await expect(fs.stat(`${local}.part`)).rejects.toThrow();
    await expect(fs.stat(`${local}.part.etag`)).rejects.toThrow();
    // A full sha as revision needs no revision API call.
    expect(hub.hubRequests.some((r) => r.url.includes('/revision/'))).toBe(false);
  });

  it('deletes a download whose sha256 does not match and names the file', async () => {
    await serve([await slimRepo({ 'bad/broken.parquet': [{ kind: 'corrupt' }] })]);
    const err = await download(parseHfUri('hf://datasets/acme/slim/bad/*'), { ...opts(), token: TOKEN }).catch((e) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect(err.message).toContain('bad/broken.parquet');
    expect(err.message).toContain('sha256');
    expect(err.message).not.toContain(TOKEN);
    const local = path.join(cacheDir, 'hub', 'datasets', 'acme--slim', SHA, 'bad', 'broken.parquet');
    for (const p of [local, `${local}.part`, `${local}.part.etag`]) await expect(fs.stat(p)).rejects.toThrow();
    expectNoToken();
  });

  it('explains 401 on a gated repo, and passes with the token without leaking it', async () => {
    const hub = await serve([await slimRepo({}, { id: 'acme/gated', token: TOKEN })]);
    const ref = parseHfUri('hf://datasets/acme/gated/README.md');
    const denied = await download(ref, opts()).catch((e) => e);
    expect(denied).toBeInstanceOf(MeapError);
    expect(denied.kind).toBe('input');
    expect(denied.message).toMatch(/HF_TOKEN/);
    expect(denied.message).toMatch(/terms/);
    expect(denied.message).toContain(`${hub.endpoint}/datasets/acme/gated`);

    const wrong = 'hf_wrongTOKEN_zzz';
    const refused = await download(ref, { ...opts(), token: wrong }).catch((e) => e);
    expect(refused).toBeInstanceOf(MeapError);
    expect(refused.message).toMatch(/refused/);
    expect(refused.message).not.toContain(wrong);

    const ok = await download(parseHfUri('hf://datasets/acme/gated/data/*'), { ...opts(), token: TOKEN });
    expect(ok.files).toHaveLength(2);
    expect((await fs.readFile(ok.files[0].local)).equals(await bytes('slimpajama/chunk_0.jsonl.zst'))).toBe(true);
    expect(hub.cdnRequests.length).toBeGreaterThan(0);
    expectNoToken();
  });

  it('gives up after maxRetries on a persistent 503', async () => {
    await serve([await slimRepo({ 'README.md': [{ kind: 'status', status: 503, times: 100 }] })]);
    const err = await download(parseHfUri('hf://datasets/acme/slim/README.md'), { ...opts(), maxRetries: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect(err.message).toMatch(/HTTP 503.*gave up after 3 attempts/);
    expect(resolves()).toHaveLength(3);
    const local = path.join(cacheDir, 'hub', 'datasets', 'acme--slim', SHA, 'README.md');
    await expect(fs.stat(local)).rejects.toThrow();
  });

  it('mirrors into an output folder keeping repo paths', async () => {
    await serve([await slimRepo()]);
    const out = path.join(cacheDir, 'mirror');
    const res = await download(parseHfUri('hf://datasets/acme/slim'), { ...opts(), out, include: ['**/*.parquet'] });
    expect(res.files.map((f) => f.local)).toEqual([
      path.join(out, 'bad', 'broken.parquet'),
      path.join(out, 'sft', 'alpaca_head128.parquet'),
    ]);
    expect((await walk(out)).length).toBe(2);
    const err = await download(parseHfUri('hf://datasets/acme/slim/nothing/*'), opts()).catch((e) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect(err.message).toMatch(/no file matches nothing\/\*/);
  });

  it('fetchTokenizer downloads tokenizer.json and its config, nothing else', async () => {
    await serve([await modelRepo()]);
    const p = await fetchTokenizer('hf://acme/tiny-gpt2', { ...opts(), token: TOKEN });
    expect(p).toBe(path.join(cacheDir, 'hub', 'models', 'acme--tiny-gpt2', MODEL_SHA, 'tokenizer.json'));
    expect((await fs.readFile(p)).equals(await bytes('tokenizers/gpt2/tokenizer.json'))).toBe(true);
    const cfg = path.join(path.dirname(p), 'tokenizer_config.json');
    expect((await fs.readFile(cfg)).equals(await bytes('tokenizers/gpt2/tokenizer_config.json'))).toBe(true);
    expect((await walk(cacheDir)).sort()).toEqual([p, cfg].sort());
    expect(resolves().every((r) => r.url.startsWith(`/acme/tiny-gpt2/resolve/${MODEL_SHA}/`))).toBe(true);
    expectNoToken();

    const missing = await fetchTokenizer('hf://acme/tiny-gpt2/sub', opts()).catch((e) => e);
    expect(missing).toBeInstanceOf(MeapError);
    expect(missing.message).toContain('sub/tokenizer.json');
  });
});
