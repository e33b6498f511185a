/**
 * One entry point from an input file to its raw records, whatever the container. Problems with one
 * record are yielded (reading goes on); problems with the file itself are thrown as InputError.
 */
import type { InputError, Location } from '../pipeline/errors.ts';
import type { InputFile } from './inputs.ts';
import { readJsonArray } from './json.ts';
import { readJsonl } from './jsonl.ts';
import { readParquet } from './parquet.ts';

export type RawItem =
  | { kind: 'record'; value: unknown; where: Location }
  | { kind: 'error'; error: InputError }; // a record-level problem; reading continues after it

export interface ReadOptions {
  /** Stop after this many items (records and error items; blank lines do not count). */
  limit?: number;
  /** Bytes taken from disk so far, in increments (compressed bytes for .zst). */
  onBytes?: (n: number) => void;
  /** Longest JSONL line, or JSON array element, accepted before the file is refused. */
  maxLineBytes?: number;
}

export function readRecords(file: InputFile, opts: ReadOptions = {}): AsyncIterable<RawItem> {
  const source = open(file, opts);
  return opts.limit === undefined ? source : take(source, opts.limit);
}

function open(file: InputFile, opts: ReadOptions): AsyncIterable<RawItem> {
  switch (file.format) {
    case 'jsonl':
    case 'jsonl.zst':
      return readJsonl(file, opts);
    case 'json':
      return readJsonArray(file, opts);
    case 'parquet':
      return readParquet(file, opts);
  }
}

/** Leaving the loop early returns the inner generator, whose `finally` closes the file. */
async function* take(source: AsyncIterable<RawItem>, limit: number): AsyncGenerator<RawItem> {
  if (limit <= 0) return;
  let n = 0;
  for await (const item of source) {
    yield item;
    if (++n >= limit) return;
  }
}
