import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { encodeShard } from '../../../datasets/shards/codec.ts';
import { shardName } from '../../../pipeline/shards.ts';
import { describeDifference, readRunFile, readUnitResult, unitKey, writeRunFile, writeUnitResult } from '../../../pipeline/workstate/run-records.ts';
import type { UnitResult } from '../../../schemas/workstate.ts';
import { tempDir } from '../../helpers/cli.ts';
import { runFile, sftSettings } from '../helpers.ts';

describe('describeDifference', () => {
  it('is null when the two agree', () => {
    expect(describeDifference(runFile(), runFile())).toBeNull();
    expect(describeDifference({ a: [1, 2], b: null }, { a: [1, 2], b: null })).toBeNull();
  });

  it('names the first differing key by its path, with both values', () => {
    expect(describeDifference(runFile({ seed: 0 }), runFile({ seed: 7 }))).toBe('settings.seed: this command gives 0, the directory has 7');
    const tokenizer = { ...runFile().settings.tokenizer, eosId: null };
    expect(describeDifference(runFile(), runFile({ tokenizer }))).toBe('settings.tokenizer.eosId: this command gives 50256, the directory has null');
    // In key order: seqLen comes before seed, so only seqLen is named.
    expect(describeDifference(runFile({ seqLen: 128, seed: 1 }), runFile())).toBe('settings.seqLen: this command gives 128, the directory has 256');
  });

  it('shows a key one side lacks as none, and long lists by their length', () => {
    expect(describeDifference({ a: 1 }, {})).toBe('a: this command gives 1, the directory has none');
    expect(describeDifference(runFile({}, ['a.jsonl']), runFile({}, ['a.jsonl', 'b.jsonl']))).toBe('inputs: this command gives ["a.jsonl"], the directory has ["a.jsonl","b.jsonl"]');
    const many = ['1', '2', '3', '4', '5'].map((n) => `${n}.jsonl`);
    expect(describeDifference(runFile({}, many), runFile({}, many.slice(0, 4)))).toBe('inputs: this command gives [5 entries], the directory has ["1.jsonl","2.jsonl","3.jsonl","4.jsonl"]');
  });

  it('names the whole settings when they are not objects', () => {
    expect(describeDifference(1, 2)).toBe('settings: this command gives 1, the directory has 2');
  });
});

describe('the run file', () => {
  it('round-trips, and is absent from a directory without work state', async () => {
    const dir = tempDir();
    expect(await readRunFile(dir)).toBeNull();
    const run = { ...runFile(), settings: sftSettings() };
    await writeRunFile(dir, run);
    expect(await readRunFile(dir)).toEqual(run);
    expect(fs.readFileSync(path.join(dir, '.meap/run.json'), 'utf8').endsWith('}\n')).toBe(true);
  });

  it('is reported as damaged, one line, when it no longer matches the schema', async () => {
    const dir = tempDir();
    await writeRunFile(dir, runFile());
    fs.writeFileSync(path.join(dir, '.meap/run.json'), JSON.stringify({ settings: { seed: 'zero' }, inputs: [] }));
    const e = await readRunFile(dir).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(MeapError);
    expect((e as MeapError).kind).toBe('integrity');
    expect((e as MeapError).message).toMatch(/\.meap\/run\.json is damaged/);
    // Bytes that are not JSON at all get the same one line, not a SyntaxError.
    fs.writeFileSync(path.join(dir, '.meap/run.json'), '{"settings": ');
    const cut = await readRunFile(dir).catch((err: unknown) => err);
    expect(cut).toBeInstanceOf(MeapError);
    expect((cut as MeapError).message).toMatch(/\.meap\/run\.json is damaged/);
  });
});

describe('unit records', () => {
  const unit = (rel: string, shards: number): UnitResult => ({
    path: rel,
    sha256: 'b'.repeat(64),
    read: { records: 20, items: 19, skipped: { emptyText: 1 } },
    shards: Array.from({ length: shards }, (_, i) => ({ file: shardName(rel, i), input: rel, rows: 4, tokens: 1000, maskedTokens: 150, sha256: 'c'.repeat(64) })),
    counts: {},
    skipped: {},
  });
  const withShards = (u: UnitResult) => {
    const dir = tempDir();
    for (const s of u.shards) fs.writeFileSync(path.join(dir, s.file), encodeShard([]));
    return dir;
  };

  it('round-trip once their shards are in place', async () => {
    const u = unit('sub/a.jsonl', 2);
    const dir = withShards(u);
    expect(await readUnitResult(dir, u.path)).toBeNull();
    await writeUnitResult(dir, u);
    expect(await readUnitResult(dir, u.path)).toEqual(u);
    expect(await readUnitResult(dir, 'sub/b.jsonl')).toBeNull();
  });

  it('read as not done when a shard they list is gone, so the unit is redone', async () => {
    const u = unit('a.jsonl', 2);
    const dir = withShards(u);
    await writeUnitResult(dir, u);
    fs.rmSync(path.join(dir, u.shards[1].file));
    expect(await readUnitResult(dir, u.path)).toBeNull();
  });

  it('read as not done when a shard they list is not in the Arrow IPC stream format (an older meap wrote it)', async () => {
    const u = unit('a.jsonl', 2);
    const dir = withShards(u);
    await writeUnitResult(dir, u);
    fs.writeFileSync(path.join(dir, u.shards[1].file), encodeShard([], 'arrow-ipc-file'));
    expect(await readUnitResult(dir, u.path)).toBeNull();
    fs.writeFileSync(path.join(dir, u.shards[1].file), '');
    expect(await readUnitResult(dir, u.path)).toBeNull();
  });

  it('read as not done when the record under a unit key is for another input', async () => {
    const a = unit('a.jsonl', 1);
    const dir = withShards(a);
    await writeUnitResult(dir, a);
    const done = path.join(dir, '.meap/done');
    fs.copyFileSync(path.join(done, `${unitKey('a.jsonl')}.json`), path.join(done, `${unitKey('b.jsonl')}.json`));
    expect(await readUnitResult(dir, 'b.jsonl')).toBeNull();
    expect(await readUnitResult(dir, 'a.jsonl')).toEqual(a);
  });

  it('read as not done when the record is not JSON (cut short), so the unit is redone', async () => {
    const u = unit('a.jsonl', 1);
    const dir = withShards(u);
    await writeUnitResult(dir, u);
    fs.writeFileSync(path.join(dir, '.meap/done', `${unitKey('a.jsonl')}.json`), '{"path": "a.js');
    expect(await readUnitResult(dir, u.path)).toBeNull();
  });
});
