/**
 * An input file's bytes as its format stores its text: decompressed for `.zst` and `.gz`, as they
 * are for the plain formats. A plain file whose bytes begin with gzip's or zstd's magic number is
 * refused, naming its compression: read as text, every record of it would be a bad one.
 */
import { MeapError } from '../core/errors.ts';
import { FORMATS } from '../schemas/enums.ts';
import { readBytes } from './bytes.ts';
import { compressionOf, type Compression } from './compression.ts';
import { INPUT_FORMATS } from './formats.ts';
import { decompressGzip } from './gzip.ts';
import { detectFormat } from './inputs.ts';
import type { InputFile } from './types.ts';
import { decompressZstd } from './zstd.ts';

export function readDecoded(file: InputFile, opts: { onBytes?: (n: number) => void } = {}): AsyncIterable<Uint8Array> {
  const raw = readBytes(file, opts);
  switch (INPUT_FORMATS[file.format].compression) {
    case 'zstd':
      return decompressZstd(raw, file.rel);
    case 'gzip':
      return decompressGzip(raw, file.rel);
    case null:
      return refuseCompressed(raw, file);
  }
}

async function* refuseCompressed(source: AsyncIterable<Uint8Array>, file: InputFile): AsyncGenerator<Uint8Array> {
  let first = true;
  for await (const chunk of source) {
    if (first) {
      first = false;
      const compression = compressionOf(chunk);
      if (compression !== undefined) throw compressed(file, compression);
    }
    yield chunk;
  }
}

/** Not an InputError: no --on-error skips it, and no hint points there, since no record of it is readable. */
function compressed(file: InputFile, compression: Compression): MeapError {
  // The format the file's own bytes call for: its container under this compression, where meap reads one.
  const { container } = INPUT_FORMATS[file.format];
  const format = FORMATS.find((f) => INPUT_FORMATS[f].container === container && INPUT_FORMATS[f].compression === compression);
  const what = `this file is ${compression}-compressed, not plain ${file.format === 'json' ? 'JSON' : 'JSON Lines'}`;
  let hint: string;
  if (format === undefined) hint = 'decompress it first';
  else if (detectFormat(file.rel) === format) hint = `drop --format, or pass --format ${format}`;
  else hint = `name it .${format}, or pass --format ${format}`;
  return new MeapError('input', what, { file: file.rel }, hint);
}
