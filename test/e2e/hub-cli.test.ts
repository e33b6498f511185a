/**
 * Hub inputs end to end through the CLI, against a fake hub on 127.0.0.1 serving the real fixture
 * files (with a redirect to a second local "CDN" server). No test touches the real internet.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeHub, type FakeHub } from '../helpers/fake-hub.ts';
import { fixtures, gpt2, meap, meapAsync, readShards, tempDir, treeDigest } from '../helpers/cli.ts';

const SHA = 'a'.repeat(40);
const TOKEN = 'hf_secret_token_for_tests';
let hub: FakeHub;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const file = (p: string, src: string, lfs = true) => ({ path: p, data: fs.readFileSync(path.join(fixtures, src)), lfs });
  hub = await startFakeHub([
    {
      type: 'dataset',
      id: 'acme/slim',
      sha: SHA,
      files: [file('train/chunk1/example_train_0.jsonl.zst', 'slimpajama/chunk_0.jsonl.zst'), file('train/chunk1/example_train_1.jsonl.zst', 'slimpajama/chunk_1.jsonl.zst'), file('README.md', 'PROVENANCE.md', false)],
    },
    { type: 'model', id: 'acme/gpt2', sha: 'b'.repeat(40), files: [file('tokenizer.json', 'tokenizers/gpt2/tokenizer.json'), file('tokenizer_config.json', 'tokenizers/gpt2/tokenizer_config.json', false)] },
  ]);
  env = { HF_ENDPOINT: hub.endpoint, HF_TOKEN: TOKEN, MEAP_CACHE: tempDir('meap-hub-cache-') };
});
afterAll(() => hub?.close());

describe('hf:// inputs', () => {
  it('prepare downloads, pins the commit in the manifest, and equals a local run of the same files', async () => {
    const out = path.join(tempDir(), 'out');
    const r = await meapAsync(['prepare', 'hf://datasets/acme/slim/train/**/*.jsonl.zst', '--out', out, '--tokenizer', 'hf://acme/gpt2', '--progress', 'none'], env);
    expect(r.code, r.stderr).toBe(0);
    const { manifest, rows } = readShards(out);
    expect(manifest.inputs.map((i) => i.path)).toEqual([
      `hf://datasets/acme/slim@${SHA}/train/chunk1/example_train_0.jsonl.zst`,
      `hf://datasets/acme/slim@${SHA}/train/chunk1/example_train_1.jsonl.zst`,
    ]);
    const local = path.join(tempDir(), 'local');
    expect(meap(['prepare', path.join(fixtures, 'slimpajama/chunk_0.jsonl.zst'), path.join(fixtures, 'slimpajama/chunk_1.jsonl.zst'), '--out', local, '--tokenizer', gpt2, '--progress', 'none']).code).toBe(0);
    const localRows = readShards(local).rows;
    // Same file bytes, same tokenizer bytes: same tokens and masks (masks key on the file's sha256).
    expect(rows.map((x) => Array.from(x.inputIds).join(','))).toEqual(localRows.map((x) => Array.from(x.inputIds).join(',')));
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    for (const req of hub.cdnRequests) expect(JSON.stringify(req.headers)).not.toContain(TOKEN);

    // A rerun is a no-op served from the cache.
    const before = hub.cdnRequests.length;
    const again = await meapAsync(['prepare', 'hf://datasets/acme/slim/train/**/*.jsonl.zst', '--out', out, '--tokenizer', 'hf://acme/gpt2', '--progress', 'none'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(hub.cdnRequests.length).toBe(before);
  });

  it('meap download mirrors the matching files under --out, keeping repo paths', async () => {
    const out = tempDir();
    const r = await meapAsync(['download', 'acme/slim', '--include', 'train/**', '--out', out], env);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(treeDigest(out)).sort()).toEqual(['train/chunk1/example_train_0.jsonl.zst', 'train/chunk1/example_train_1.jsonl.zst']);
    expect(fs.readFileSync(path.join(out, 'train/chunk1/example_train_0.jsonl.zst')).equals(fs.readFileSync(path.join(fixtures, 'slimpajama/chunk_0.jsonl.zst')))).toBe(true);
    const bad = await meapAsync(['download', 'acme/missing'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).not.toContain(TOKEN);
  });
});
