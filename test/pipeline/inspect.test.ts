import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { IGNORE_INDEX as I } from '../../core/constants.ts';
import { MeapError } from '../../core/errors.ts';
import { inspect, sftSegments } from '../../pipeline/inspect.ts';
import { fixtures, gpt2, llama2, readShards, tempDir } from '../helpers/cli.ts';
import { prepareDir } from './helpers.ts';

const M = 99;
const iota = (n: number) => Array.from({ length: n }, (_, i) => i);
const names = (segs: { name: string; from: number; to: number }[]) => segs.map((g) => `${g.name} ${g.from}-${g.to}`);

// One example: BOS 1, prompt 10 11, answer 20 21 and EOS 2; its copy masks answer token 20.
const original = { inputIds: [1, 10, 11, 20, 21, 2], labels: [I, I, I, 20, 21, 2], positionIds: iota(6) };
const copy = { inputIds: [1, 10, 11, M, 21, 2], labels: [I, I, I, 20, I, I], positionIds: iota(6) };
const join = (...parts: (typeof original)[]) => ({
  inputIds: parts.flatMap((p) => p.inputIds),
  labels: parts.flatMap((p) => p.labels),
  positionIds: parts.flatMap((p) => p.positionIds),
});

describe('sftSegments', () => {
  it('concat layout: prompt, answer, then the copy split at the original prompt length', () => {
    const row = { ...join(original, copy), positionIds: iota(12) };
    expect(names(sftSegments(row, M, null))).toEqual(['PROMPT 0-3', 'ANSWER 3-6', 'COPY PROMPT 6-9', 'COPY ANSWER 9-12']);
  });

  it('separate layout: a copy row takes its prompt length from the previous row, or is one COPY without it', () => {
    expect(names(sftSegments(copy, M, original))).toEqual(['COPY PROMPT 0-3', 'COPY ANSWER 3-6']);
    expect(names(sftSegments(copy, M, null))).toEqual(['COPY 0-6']);
  });

  it('a copy that packing placed apart from its original is one COPY part, not split at another prompt', () => {
    // Another example's original (prompt 1 12 13 14) before this copy, in the previous row or in this one.
    const other = { inputIds: [1, 12, 13, 14, 30, 2], labels: [I, I, I, I, 30, 2], positionIds: iota(6) };
    expect(names(sftSegments(copy, M, other))).toEqual(['COPY 0-6']);
    expect(names(sftSegments(join(other, copy), M, null))).toEqual(['PROMPT 0-4', 'ANSWER 4-6', 'COPY 6-12']);
    expect(names(sftSegments(join(original, copy), M, null))).toEqual(['PROMPT 0-3', 'ANSWER 3-6', 'COPY PROMPT 6-9', 'COPY ANSWER 9-12']);
  });

  it('an ntp-only row is prompt and answer', () => {
    expect(names(sftSegments(original, M, null))).toEqual(['PROMPT 0-3', 'ANSWER 3-6']);
  });

  it('packed rows: each sequence from its position 0, a copy after its original in the same row', () => {
    const short = { inputIds: [1, 12, 30, 2], labels: [I, I, 30, 2], positionIds: iota(4) };
    expect(names(sftSegments(join(short, original, copy), M, null))).toEqual([
      'PROMPT 0-2',
      'ANSWER 2-4',
      'PROMPT 4-7',
      'ANSWER 7-10',
      'COPY PROMPT 10-13',
      'COPY ANSWER 13-16',
    ]);
  });

  it('drops empty segments: no prompt without BOS and template text', () => {
    const bare = { inputIds: [20, 21], labels: [20, 21], positionIds: iota(2) };
    expect(names(sftSegments(bare, M, null))).toEqual(['ANSWER 0-2']);
  });
});

describe('inspect', () => {
  let pretrain: string;
  let sft: string;
  let cache: string;
  beforeAll(() => {
    // prepare keeps a copy of its tokenizer in MEAP_CACHE; inspect finds it there by sha256.
    cache = tempDir('meap-cache-');
    pretrain = prepareDir([], { env: { MEAP_CACHE: cache } });
    sft = prepareDir(['--mode', 'sft'], { inputs: [path.join(fixtures, 'alpaca/alpaca_head128.json')] });
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('returns a pretrain row as the shards hold it, masked positions shown as [MASK:original]', async () => {
    vi.stubEnv('MEAP_CACHE', cache);
    const { rows, manifest } = readShards(pretrain);
    const { row } = await inspect(pretrain, { row: 1 });
    expect(row).toMatchObject({
      index: 1,
      shard: manifest.shards[0].file,
      rowInShard: 1,
      input_ids: Array.from(rows[1].inputIds),
      labels: Array.from(rows[1].labels),
      position_ids: Array.from(rows[1].positions),
      segments: [{ name: '', from: 0, to: rows[1].inputIds.length }],
    });
    expect(row!.masked).toEqual(row!.input_ids.flatMap((id, i) => (id === manifest.tokenizer.maskTokenId ? [i] : [])));
    expect(row!.masked.length).toBeGreaterThan(0);
    // A run of masked positions is one marker, [MASK×N:…]; every masked position is in one.
    const markers = [...row!.text!.matchAll(/\[MASK(?:×(\d+))?:/g)].map((x) => Number(x[1] ?? 1));
    expect(markers.reduce((a, b) => a + b, 0)).toBe(row!.masked.length);
  });

  it('selects rows: --row with --limit, and a range A..B or A.. clamped to the last row', async () => {
    vi.stubEnv('MEAP_CACHE', cache);
    const total = readShards(pretrain).rows.length;
    const indices = async (sel: Parameters<typeof inspect>[1]) => (await inspect(pretrain, sel)).rows.map((r) => r.index);
    expect(await indices({ row: 1 })).toEqual([1]);
    expect(await indices({ row: 1, limit: 3 })).toEqual([1, 2, 3]);
    expect(await indices({ row: 2, last: 4 })).toEqual([2, 3, 4]);
    expect(await indices({ row: 2, last: 9, limit: 2 })).toEqual([2, 3]);
    expect(await indices({ row: total - 2, last: null })).toEqual([total - 2, total - 1]);
    expect(await indices({ row: total - 1, last: total + 5 })).toEqual([total - 1]);
    const empty = await inspect(pretrain, { row: 3, last: 2 }).catch((e: unknown) => e);
    expect((empty as MeapError).message).toContain('--rows 3..2 is empty');
  });

  it('decodes only with a tokenizer at hand: none cached gives no text', async () => {
    vi.stubEnv('MEAP_CACHE', tempDir('meap-cache-'));
    const { row } = await inspect(pretrain, { row: 0 });
    expect(row!.text).toBeNull();
    expect((await inspect(pretrain, { row: 0, tokenizer: gpt2 })).row!.text).not.toBeNull();
  });

  it('returns an SFT row with its segments, decoded segment by segment', async () => {
    const { rows, manifest } = readShards(sft);
    const maskId = manifest.tokenizer.maskTokenId;
    // Unpacked, a row holding both an original's answer and a masked copy is a concat pair.
    const r = rows.findIndex((x) => x.inputIds.includes(maskId) && x.labels.some((l, i) => l !== I && x.inputIds[i] !== maskId));
    expect(r).toBeGreaterThanOrEqual(0);
    const { row } = await inspect(sft, { row: r, tokenizer: gpt2 });
    const plain = (x: (typeof rows)[number]) => ({ inputIds: Array.from(x.inputIds), labels: Array.from(x.labels), positionIds: Array.from(x.positions) });
    expect(row!.segments).toEqual(sftSegments(plain(rows[r]), maskId, r > 0 ? plain(rows[r - 1]) : null));
    expect(row!.segments.map((g) => g.name)).toEqual(['PROMPT', 'ANSWER', 'COPY PROMPT', 'COPY ANSWER']);
    const lines = row!.text!.split('\n');
    expect(lines[0]).toMatch(/^\[PROMPT\] Below is an instruction/);
    expect(lines.find((l) => l.startsWith('[COPY ANSWER] '))).toContain('[MASK:');
  });

  it('refuses a row past the end and a tokenizer that is not the manifest one', async () => {
    const total = readShards(pretrain).rows.length;
    const past = await inspect(pretrain, { row: total }).catch((e: unknown) => e);
    expect(past).toBeInstanceOf(MeapError);
    expect((past as MeapError).message).toContain(`--row ${total} is out of range: the directory holds ${total} rows (0 to ${total - 1})`);
    const wrong = await inspect(pretrain, { row: 0, tokenizer: llama2 }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(MeapError);
    expect((wrong as MeapError).message).toMatch(/the tokenizer's sha256 .* is not the manifest's/);
  });
});
