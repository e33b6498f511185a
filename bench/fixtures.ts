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
