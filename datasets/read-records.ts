/**
 * One entry point from an input file to its raw records, whatever the container. Problems with one
 * record are yielded (reading goes on); problems with the file itself are thrown as InputError.
 */
import { INPUT_FORMATS } from './formats.ts';
import { readJsonArray } from './json.ts';
import { readJsonl } from './jsonl.ts';
import { readParquet } from './parquet.ts';
import type { InputFile, RawItem, ReadOptions } from './types.ts';

export function readRecords(file: InputFile, opts: ReadOptions = {}): AsyncIterable<RawItem> {
  const source = open(file, opts);
  return opts.limit === undefined ? source : take(source, opts.limit);
}

function open(file: InputFile, opts: ReadOptions): AsyncIterable<RawItem> {
  switch (INPUT_FORMATS[file.format].container) {
    case 'jsonl':
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
