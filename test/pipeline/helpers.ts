/** Output directories and work-state records for the tests of pipeline/ modules that act on a directory. */
import * as path from 'node:path';
import { expect } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import type { PretrainSettings, SftSettings } from '../../schemas/settings.ts';
import type { RunFile } from '../../schemas/workstate.ts';
import { gpt2, meap, slimpajama, tempDir } from '../helpers/cli.ts';

/** A small real `meap prepare` output (GPT-2, 20 records an input, 256-token rows), made by the CLI as a user would. */
export function prepareDir(
  extra: string[] = [],
  { inputs = [slimpajama('chunk_0.jsonl')], env = {}, out = path.join(tempDir(), 'out') }: { inputs?: string[]; env?: NodeJS.ProcessEnv; out?: string } = {},
): string {
  const r = meap(['prepare', ...inputs, '-o', out, '-t', gpt2, '--seq-len', '256', '--limit', '20', '--progress', 'none', ...extra], env);
  if (r.code !== 0) throw new Error(`meap prepare exited ${r.code}: ${r.stderr}`);
  return out;
}

/** A valid run file of a pretrain run, for tests that need one without a tokenizer or a run behind it. */
export function runFile(settings: Partial<PretrainSettings> = {}, inputs = ['a.jsonl', 'b.jsonl']): RunFile {
  return { settings: pretrainSettings(settings), inputs };
}

/** The settings of an SFT run, the pretrain keys at the values SFT records for them. */
export function sftSettings(settings: Partial<SftSettings> = {}): SftSettings {
  return {
    ...pretrainSettings(),
    mode: 'sft',
    mask: 'sft-duplicate',
    maskRatio: 0.1,
    spanLength: null,
    template: 'alpaca',
    minAnswerTokens: 50,
    sftLayout: 'concat',
    pack: false,
    ...settings,
  };
}

/** The settings of a pretrain run: random masking at 0.15, 256-token rows, GPT-2's ids. */
export function pretrainSettings(settings: Partial<PretrainSettings> = {}): PretrainSettings {
  return {
    mode: 'pretrain',
    format: null,
    textField: 'text',
    excludeSets: [],
    limit: null,
    bos: true,
    eos: true,
    seqLen: 256,
    mask: 'random',
    maskRatio: 0.15,
    spanLength: null,
    seed: 0,
    shardRows: 1024,
    onError: 'fail',
    maxDocChars: 8_000_000,
    template: null,
    templateSha256: null,
    minAnswerTokens: null,
    sftLayout: null,
    pack: null,
    tokenizer: { sha256: 'a'.repeat(64), vocabSize: 50257, maskTokenId: 50257, bosId: null, eosId: 50256 },
    ...settings,
  };
}

/** The one-line usage error that `p` must reject with. */
export async function usageError(p: Promise<unknown>): Promise<MeapError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MeapError);
  expect((e as MeapError).kind).toBe('usage');
  expect((e as MeapError).message).not.toContain('\n');
  return e as MeapError;
}
