/**
 * The fake hub that api.test.ts and download.test.ts share: repositories built from the real
 * fixtures, and per test a fresh cache directory and log, with HF_TOKEN and HF_ENDPOINT cleared so
 * that the developer's own environment cannot reach the code under test.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { startFakeHub, type FakeFile, type FakeHub, type FakeRepo, type Fault } from '../../helpers/fake-hub.ts';
import { FIXTURES, tempDir } from '../helpers.ts';

export const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
export const MODEL_SHA = 'ffeeddccbbaa99887766554433221100ffeeddcc';
export const TOKEN = 'hf_TESTtoken_s3cretValue';

export const bytes = (rel: string) => fs.readFile(path.join(FIXTURES, rel));

export async function slimRepo(faults: Record<string, Fault[]> = {}, extra: Partial<FakeRepo> = {}): Promise<FakeRepo> {
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

export async function modelRepo(): Promise<FakeRepo> {
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

export async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}
// Live bindings: the test files read the current test's values.
let hub: FakeHub | undefined;
export let cacheDir: string;
export let logs: string[];

/** Starts the hub for the current test; useFakeHub closes it afterwards. */
export async function serve(repos: FakeRepo[], options?: { pageSize?: number }): Promise<FakeHub> {
  hub = await startFakeHub(repos, options);
  return hub;
}

export const opts = () => ({
  endpoint: hub!.endpoint,
  cacheDir,
  retryBaseMs: 5,
  log: (l: string) => logs.push(l),
});
export const resolves = () => hub!.hubRequests.filter((r) => r.url.includes('/resolve/'));
export const cdnFor = (p: string) => hub!.cdnRequests.filter((r) => decodeURIComponent(r.url).endsWith(`/${p}`));

export function expectNoToken(): void {
  for (const r of hub!.cdnRequests) {
    expect(r.headers.authorization).toBeUndefined();
    expect(JSON.stringify(r.headers)).not.toContain(TOKEN);
    expect(r.url).not.toContain(TOKEN);
  }
  expect(logs.join('\n')).not.toContain(TOKEN);
}

/** Registers the per-test setup and teardown in the calling test file. */
export function useFakeHub(): void {
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
}
