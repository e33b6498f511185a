/**
 * What the decompressors (zstd.ts, gzip.ts) share: how a stream that is cut short or corrupt is
 * reported, and how compressed bytes are told from text by their first bytes.
 */
import { InputError } from '../core/errors.ts';

export type Compression = 'gzip' | 'zstd';

export function truncatedStream(file: string, what: string): InputError {
  return new InputError('truncatedFile', what, { file }, 'the file was probably cut short while downloading or copying');
}

export function corruptStream(compression: Compression, file: string, why: string): InputError {
  return new InputError('corruptFile', `not a valid ${compression} stream: ${why}`, { file });
}

// RFC 1952 §2.3.1 (ID1 ID2, then CM 8, deflate) and RFC 8878 §3.1.1. Neither can begin JSON text.
const MAGIC: ReadonlyArray<readonly [Compression, readonly number[]]> = [
  ['gzip', [0x1f, 0x8b, 0x08]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
];

/** The compression whose magic number `head` (a file's first bytes) starts with. */
export function compressionOf(head: Uint8Array): Compression | undefined {
  return MAGIC.find(([, m]) => head.length >= m.length && m.every((b, i) => head[i] === b))?.[0];
}
