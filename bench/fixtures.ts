/** The shared fixtures the benches read (../shared/fixtures beside the repository), and their texts. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/fixtures');

/** The `text` field of every line of JSONL text. */
export const jsonlTexts = (jsonl: string): string[] =>
  jsonl
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l).text as string);

/** The texts of a fixture .jsonl, by its path under FIXTURES. */
export const fixtureTexts = (rel: string): string[] => jsonlTexts(fs.readFileSync(path.join(FIXTURES, rel), 'utf8'));

/**
 * The fixtures' distinct texts, each once (SlimPajama-layout chunks, RedPajama arXiv, Alpaca's three
 * fields): the tokenizer benches' text on which a piece cache starts empty.
 */
export function distinctTexts(): string[] {
  const alpaca = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'alpaca/alpaca_head128.json'), 'utf8')) as Array<Record<string, string>>;
  return [...fixtureTexts('slimpajama/chunk_0.jsonl'), ...fixtureTexts('slimpajama/chunk_1.jsonl'), ...fixtureTexts('redpajama/arxiv20.jsonl'), ...alpaca.flatMap((r) => [r.instruction, r.input, r.output])];
}
