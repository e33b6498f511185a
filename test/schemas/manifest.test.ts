import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManifestSchema, PretrainManifestSchema, type Manifest } from '../../schemas/manifest.ts';
import { SHARD_COLUMNS } from '../../schemas/shard-columns.ts';
import { Count, RelativePath, Sha256 } from '../../schemas/primitives.ts';
import { RunSettingsSchema, SftPackingSchema } from '../../schemas/settings.ts';
import { gpt2, meap, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

let dir: string;
let json: Record<string, unknown>;
let manifest: Manifest;

beforeAll(() => {
  dir = tempDir('meap-manifest-');
  const out = path.join(dir, 'out');
  const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', out, '--seq-len', '256', '--limit', '20', '--progress', 'none', '-t', gpt2]);
  expect(r.code, r.stderr).toBe(0);
  json = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
  manifest = readShards(out).manifest;
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** The real manifest with one part changed. */
const edited = (edit: (m: any) => void) => {
  const m = structuredClone(json);
  edit(m);
  return m;
};

describe('ManifestSchema', () => {
  it('accepts the manifest of a real prepare run, unchanged', () => {
    const parsed = ManifestSchema.parse(json);
    expect(parsed).toEqual(json);
    expect(parsed).toEqual(manifest);
    expect(parsed.mode).toBe('pretrain');
    expect(PretrainManifestSchema.safeParse(json).success).toBe(true);
    expect(parsed.shards.length).toBeGreaterThan(0);
    expect(parsed.totals.rows).toBe(parsed.shards.reduce((n, s) => n + s.rows, 0));
  });

  it('refuses shard and input paths that are absolute or leave the directory', () => {
    for (const bad of ['/etc/passwd', '../x.arrow', 'a/../../x.arrow', 'a\\..\\x.arrow', 'C:\\x.arrow', 'c:x.arrow', '']) {
      const r = ManifestSchema.safeParse(edited((m) => (m.shards[0].file = bad)));
      expect(r.success, bad).toBe(false);
      expect(r.error!.issues[0].path, bad).toEqual(['shards', 0, 'file']);
    }
    expect(ManifestSchema.safeParse(edited((m) => (m.inputs[0].path = '/abs/in.jsonl'))).error?.issues[0].path).toEqual(['inputs', 0, 'path']);
    expect(ManifestSchema.safeParse(edited((m) => (m.shards[0].input = '../in.jsonl'))).error?.issues[0].path).toEqual(['shards', 0, 'input']);
    // A name that merely contains dots stays inside.
    expect(ManifestSchema.safeParse(edited((m) => (m.shards[0].file = 'sub/..x/a..b.arrow'))).success).toBe(true);
  });

  it('refuses a digest that is not 64 lowercase hex digits', () => {
    const sha = (json.shards as Array<{ sha256: string }>)[0].sha256;
    for (const bad of [sha.toUpperCase(), sha.slice(1), `${sha}0`, 'z'.repeat(64)]) {
      expect(ManifestSchema.safeParse(edited((m) => (m.shards[0].sha256 = bad))).error?.issues[0].path).toEqual(['shards', 0, 'sha256']);
    }
  });

  it('refuses an unknown mode, format or version', () => {
    expect(ManifestSchema.safeParse(edited((m) => (m.mode = 'finetune'))).success).toBe(false);
    expect(ManifestSchema.safeParse(edited((m) => delete m.mode)).success).toBe(false);
    expect(ManifestSchema.safeParse(edited((m) => (m.format = 'other'))).success).toBe(false);
    expect(ManifestSchema.safeParse(edited((m) => (m.version = 3))).success).toBe(false);
    expect(ManifestSchema.safeParse(edited((m) => (m.shardFormat = 'parquet'))).error?.issues[0].path).toEqual(['shardFormat']);
  });

  it('takes version 2 with its shard format, and version 1 (Arrow IPC files) without one', () => {
    expect(json).toMatchObject({ version: 2, shardFormat: 'arrow-ipc-stream' });
    expect(Object.keys(json).slice(0, 3)).toEqual(['format', 'version', 'shardFormat']);
    expect(ManifestSchema.safeParse(edited((m) => (m.shardFormat = 'arrow-ipc-file'))).success).toBe(true);
    const v1 = edited((m) => {
      m.version = 1;
      delete m.shardFormat;
    });
    expect(ManifestSchema.parse(v1)).toEqual(v1);
    const noFormat = ManifestSchema.safeParse(edited((m) => delete m.shardFormat));
    expect(noFormat.error?.issues[0]).toMatchObject({ path: ['shardFormat'], message: 'a version 2 manifest names the format of its shards' });
    const v1WithFormat = ManifestSchema.safeParse(edited((m) => (m.version = 1)));
    expect(v1WithFormat.error?.issues[0]).toMatchObject({ path: ['shardFormat'], message: 'a version 1 manifest has no shardFormat: its shards are Arrow IPC files' });
  });

  it('refuses a pretrain manifest relabelled as sft', () => {
    expect(ManifestSchema.safeParse(edited((m) => (m.mode = 'sft'))).success).toBe(false);
  });

  it('takes the run settings as RunSettingsSchema, and manifests written before settings existed', () => {
    expect(RunSettingsSchema.parse(json.settings)).toEqual(json.settings);
    expect(manifest.settings).toMatchObject({ mode: 'pretrain', seqLen: 256, limit: 20, mask: 'random', spanLength: null, template: null, pack: null });
    expect(manifest.settings?.tokenizer).toEqual(manifest.tokenizer);
    expect(ManifestSchema.safeParse(edited((m) => delete m.settings)).success).toBe(true);
    expect(ManifestSchema.safeParse(edited((m) => (m.settings.mask = 'sometimes'))).error?.issues[0].path).toEqual(['settings', 'mask']);
    expect(ManifestSchema.safeParse(edited((m) => (m.settings.tokenizer.sha256 = 'x'))).error?.issues[0].path).toEqual(['settings', 'tokenizer', 'sha256']);
    expect(ManifestSchema.safeParse(edited((m) => delete m.settings.seed)).error?.issues[0].path).toEqual(['settings', 'seed']);
  });
});

describe('SftPackingSchema', () => {
  it("takes --pack off, best-fit decreasing with its window, and greedy packing's `true`; nothing else", () => {
    for (const ok of [false, true, { algorithm: 'best-fit-decreasing', windowRows: 256 }]) expect(SftPackingSchema.parse(ok)).toEqual(ok);
    for (const bad of [null, 'best-fit-decreasing', { algorithm: 'first-fit', windowRows: 256 }, { algorithm: 'best-fit-decreasing', windowRows: 0 }, { algorithm: 'best-fit-decreasing' }]) {
      expect(SftPackingSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('primitives', () => {
  it('RelativePath, Sha256 and Count on their own', () => {
    expect(RelativePath.safeParse('a/b.arrow').success).toBe(true);
    expect(RelativePath.safeParse('..').success).toBe(false);
    expect(RelativePath.safeParse('/a').error?.issues[0].message).toBe('must be a relative path inside the directory (no leading /, no ..)');
    expect(Sha256.safeParse('0'.repeat(64)).success).toBe(true);
    expect(Sha256.safeParse('A'.repeat(64)).error?.issues[0].message).toBe('must be 64 lowercase hex digits');
    expect(Count.safeParse(0).success).toBe(true);
    expect(Count.safeParse(-1).success).toBe(false);
    expect(Count.safeParse(1.5).success).toBe(false);
  });

  it('the shard columns are fixed, in order', () => {
    expect(SHARD_COLUMNS).toEqual(['input_ids', 'labels', 'position_ids']);
  });
});
