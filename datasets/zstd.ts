/**
 * Streaming zstd decompression. fzstd emits one output chunk per zstd block (≤ 128 KiB), but only
 * for the input it is given, so feeding it small slices keeps both sides of the stream small.
 */
import { Decompress } from 'fzstd';
import { InputError } from '../pipeline/errors.ts';

const SLICE = 64 * 1024;

// fzstd's error codes (`err(n)` in its source): 5 is "unexpected EOF"; everything else is bad data.
const EOF_CODE = 5;

export async function* decompressZstd(source: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  let ended = false;
  const d = new Decompress((chunk, final) => {
    if (chunk.length > 0) out.push(chunk);
    if (final) ended = true;
  });
  const push = (bytes: Uint8Array, final: boolean) => {
    try {
      d.push(bytes, final);
    } catch (e) {
      throw classify(e, file);
    }
  };

  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    for (let i = 0; i < chunk.length; i += SLICE) {
      push(chunk.subarray(i, Math.min(chunk.length, i + SLICE)), false);
      while (out.length > 0) yield out.shift()!;
    }
  }
  // fzstd says nothing about a stream cut mid-frame until it is told the input is over; only then
  // does it check that the last frame (and its checksum bytes) were complete.
  push(new Uint8Array(0), true);
  while (out.length > 0) yield out.shift()!;
  if (total === 0 || !ended) throw truncated(file);
}

function truncated(file: string): InputError {
  return new InputError(
    'truncatedFile',
    'zstd stream ends before its last frame is complete',
    { file },
    'the file was probably cut short while downloading or copying',
  );
}

function classify(e: unknown, file: string): InputError {
  if (e instanceof InputError) return e;
  if ((e as { code?: unknown })?.code === EOF_CODE) return truncated(file);
  const why = e instanceof Error ? e.message : String(e);
  return new InputError('corruptFile', `not a valid zstd stream: ${why}`, { file });
}
