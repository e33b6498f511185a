/**
 * What each input format (`--format`, schemas/enums.ts) is: the extensions a file of it is known by,
 * the container its records are in, and the compression around them. A record over the formats, so
 * a format named there without its line here does not compile; inputs.ts takes the extensions from
 * here, read-records.ts the container's reader, decoded.ts the decompressor.
 *
 * A table, so no test of its own: test/datasets/inputs.test.ts (extensions), read-records.test.ts
 * and gzip.test.ts (every format read) cover what is read off it.
 */
import type { InputFormat } from '../schemas/enums.ts';
import type { Compression } from './compression.ts';

export interface FormatParts {
  /** Lower case; the longest that ends a file's name wins. */
  extensions: readonly string[];
  container: 'jsonl' | 'json' | 'parquet';
  compression: Compression | null;
}

/** What a compressed file's name adds to its plain twin's. */
export const COMPRESSION_SUFFIX: Readonly<Record<Compression, string>> = { zstd: '.zst', gzip: '.gz' };

const JSONL = ['.jsonl', '.ndjson'];
const compressed = (exts: string[], c: Compression) => exts.map((e) => e + COMPRESSION_SUFFIX[c]);

export const INPUT_FORMATS: Readonly<Record<InputFormat, FormatParts>> = {
  jsonl: { extensions: JSONL, container: 'jsonl', compression: null },
  'jsonl.zst': { extensions: compressed(JSONL, 'zstd'), container: 'jsonl', compression: 'zstd' },
  'jsonl.gz': { extensions: compressed(JSONL, 'gzip'), container: 'jsonl', compression: 'gzip' },
  json: { extensions: ['.json'], container: 'json', compression: null },
  'json.gz': { extensions: compressed(['.json'], 'gzip'), container: 'json', compression: 'gzip' },
  parquet: { extensions: ['.parquet'], container: 'parquet', compression: null },
};
