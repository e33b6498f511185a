import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { download, fetchTokenizer } from '../../datasets/hub/download.ts';
import { listFiles, resolveRevision } from '../../datasets/hub/api.ts';
import { parseHfUri } from '../../datasets/hub/uri.ts';
import { MeapError } from '../../core/errors.ts';
import { startFakeHub, type FakeFile, type FakeHub, type FakeRepo, type Fault } from '../helpers/fake-hub.ts';
import { FIXTURES, tempDir } from './helpers.ts';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const MODEL_SHA = 'ffeeddccbbaa99887766554433221100ffeeddcc';
const TOKEN = 'hf_TESTtoken_s3cretValue';

const bytes = (rel: string) => fs.readFile(path.join(FIXTURES, rel));

async function slimRepo(faults: Record<string, Fault[]> = {}, extra: Partial<FakeRepo> = {}): Promise<FakeRepo> {
  const file = async (p: string, rel: string | Buffer, lfs = true): Promise<FakeFile> => ({
    path: p,
    data: typeof rel === 'string' ? await bytes(rel) : rel,
    lfs,
    faults: faults[p] ?? [],
  });
  return {
    type: 'dataset',
    id: 'acme/slim',
    sha: SHA,
    files: [
      await file('data/chunk_0.jsonl.zst', 'slimpajama/chunk_0.jsonl.zst'),
      await file('data/chunk_1.jsonl.zst', 'slimpajama/chunk_1.jsonl.zst'),
      await file('sft/alpaca_head128.parquet', 'alpaca/alpaca_head128.parquet'),
      await file('README.md', Buffer.from('# slim\n'), false),
      await file('.gitattributes', Buffer.from('*.zst filter=lfs\n'), false),
      await file('bad/broken.parquet', 'alpaca/alpaca_head128.parquet'),
    ],
    ...extra,
  };
}

async function modelRepo(): Promise<FakeRepo> {
  return {
    type: 'model',
    id: 'acme/tiny-gpt2',
    sha: MODEL_SHA,
    files: [
      { path: 'tokenizer.json', data: await bytes('tokenizers/gpt2/tokenizer.json'), lfs: true },
      { path: 'tokenizer_config.json', data: await bytes('tokenizers/gpt2/tokenizer_config.json') },
      { path: 'config.json', data: Buffer.from('{"model_type":"gpt2"}\n') },
    ],
  };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

let hub: FakeHub | undefined;
let cacheDir: string;
let logs: string[];
const opts = () => ({
  endpoint: hub!.endpoint,
  cacheDir,
  retryBaseMs: 5,
  log: (l: string) => logs.push(l),
});
const resolves = () => hub!.hubRequests.filter((r) => r.url.includes('/resolve/'));
const cdnFor = (p: string) => hub!.cdnRequests.filter((r) => decodeURIComponent(r.url).endsWith(`/${p}`));

function expectNoToken(): void {
  for (const r of hub!.cdnRequests) {
    expect(r.headers.authorization).toBeUndefined();
    expect(JSON.stringify(r.headers)).not.toContain(TOKEN);
    expect(r.url).not.toContain(TOKEN);
  }
  expect(logs.join('\n')).not.toContain(TOKEN);
}

beforeEach(async () => {
  delete process.env.HF_TOKEN;
  delete process.env.HF_ENDPOINT;
  cacheDir = await tempDir();
  logs = [];
});

afterEach(async () => {
  await hub?.close();
  hub = undefined;
  await fs.rm(cacheDir, { recursive: true, force: true });
});

describe('parseHfUri', () => {
  it('parses datasets, models, revisions and globs', () => {
    expect(parseHfUri('hf://datasets/acme/slim@v1.0/data/*.jsonl.zst')).toEqual({
      repoType: 'dataset',
      repoId: 'acme/slim',
      revision: 'v1.0',
      glob: 'data/*.jsonl.zst',
    });
    expect(parseHfUri('hf://datasets/acme/slim/data/')).toMatchObject({ glob: 'data' });
    expect(parseHfUri('hf://datasets/acme/slim')).toEqual({ repoType: 'dataset', repoId: 'acme/slim', revision: 'main' });
    expect(parseHfUri('hf://openai-community/gpt2')).toEqual({ repoType: 'model', repoId: 'openai-community/gpt2', revision: 'main' });
    expect(parseHfUri('hf://acme/m@refs%2Fpr%2F3').revision).toBe('refs/pr/3');
    expect(parseHfUri(`hf://acme/m@${SHA}/sub/tokenizer.json`)).toMatchObject({ revision: SHA, glob: 'sub/tokenizer.json' });
  });

  it.each(['s3://acme/slim', 'hf://gpt2', 'hf://datasets/acme', 'hf://datasets/ac me/slim', 'hf://acme/m@', 'hf://acme/m/../x', 'hf://acme/m/a//b', 'hf://spaces/a/b'])(
    'rejects %s as a usage error',
    (uri) => {
      const e = (() => {
        try {
          parseHfUri(uri);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(MeapError);
      expect((e as MeapError).kind).toBe('usage');
    },
  );
});

describe('hub downloads', () => {
  it('resolves the revision and follows tree pagination, listing files only', async () => {
    hub = await startFakeHub([await slimRepo()], { pageSize: 3 });
    const ref = parseHfUri('hf://datasets/acme/slim');
    const sha = await resolveRevision(ref, opts());
    expect(sha).toBe(SHA);
    const files = await listFiles(ref, sha, opts());
    expect(files.map((f) => f.path)).toEqual([
      '.gitattributes',
      'README.md',
      'bad/broken.parquet',
      'data/chunk_0.jsonl.zst',
      'data/chunk_1.jsonl.zst',
      'sft/alpaca_head128.parquet',
    ]);
    const chunk0 = files.find((f) => f.path === 'data/chunk_0.jsonl.zst')!;
    expect(chunk0.size).toBe((await bytes('slimpajama/chunk_0.jsonl.zst')).length);
    expect(chunk0.lfsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(files.find((f) => f.path === 'README.md')!.lfsSha256).toBeUndefined();
    // 6 files + 3 directories at 3 a page.
    const trees = hub.hubRequests.filter((r) => r.url.includes('/tree/'));
    expect(trees).toHaveLength(3);
    expect(trees.slice(1).every((r) => r.url.includes('cursor='))).toBe(true);
  });

  it('survives drops, 503, 429 and an ignored Range; keeps the token off the CDN; reuses the cache', async () => {
    hub = await startFakeHub([
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
    hub = await startFakeHub([await slimRepo()]);
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
    hub = await startFakeHub([await slimRepo({ 'bad/broken.parquet': [{ kind: 'corrupt' }] })]);
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
    hub = await startFakeHub([await slimRepo({}, { id: 'acme/gated', token: TOKEN })]);
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
    hub = await startFakeHub([await slimRepo({ 'README.md': [{ kind: 'status', status: 503, times: 100 }] })]);
    const err = await download(parseHfUri('hf://datasets/acme/slim/README.md'), { ...opts(), maxRetries: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(MeapError);
    expect(err.message).toMatch(/HTTP 503.*gave up after 3 attempts/);
    expect(resolves()).toHaveLength(3);
    const local = path.join(cacheDir, 'hub', 'datasets', 'acme--slim', SHA, 'README.md');
    await expect(fs.stat(local)).rejects.toThrow();
  });

  it('mirrors into an output folder keeping repo paths', async () => {
    hub = await startFakeHub([await slimRepo()]);
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
    hub = await startFakeHub([await modelRepo()]);
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
