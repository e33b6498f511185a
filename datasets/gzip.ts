/**
 * Streaming gzip decompression (`.jsonl.gz`, `.json.gz`: the usual form of C4, Dolma and FineWeb)
 * with Node's own zlib, bounded as zstd.ts is whatever the input claims: gzip's window is 32 KiB by
 * the format, and zlib's stream stops inflating while its output waits to be read, so a bomb comes
 * out one small chunk per read, and the line or record cap after it (lines.ts, json.ts) stops it as
 * it stops a zstd bomb. Concatenated members (bgzip, `cat a.gz b.gz`) are one stream, as for gunzip.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { MeapError } from '../core/errors.ts';
import { corruptStream, truncatedStream } from './compression.ts';

export async function* decompressGzip(source: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<Uint8Array> {
  // pipeline() carries a read error of `source` (an InputError) to the output, and closes the file
  // when the reader stops early.
  const gunzip = pipeline(Readable.from(source), createGunzip(), () => {});
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (e) {
    throw classify(e, file);
  }
}

function classify(e: unknown, file: string): MeapError {
  if (e instanceof MeapError) return e;
  // zlib says Z_BUF_ERROR ("unexpected end of file") when the input ends inside a member, an empty file included.
  if ((e as NodeJS.ErrnoException).code === 'Z_BUF_ERROR') return truncatedStream(file, 'gzip stream ends before its last member is complete');
  return corruptStream('gzip', file, e instanceof Error ? e.message : String(e));
}
