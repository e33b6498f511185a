import { describe, expect, it } from 'vitest';
import { listFiles, resolveRevision } from '../../../datasets/hub/api.ts';
import { parseHfUri } from '../../../datasets/hub/uri.ts';
import { bytes, opts, serve, SHA, slimRepo, useFakeHub } from './setup.ts';

useFakeHub();

describe('hub API', () => {
  it('resolves the revision and follows tree pagination, listing files only', async () => {
    const hub = await serve([await slimRepo()], { pageSize: 3 });
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
});
