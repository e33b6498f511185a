/**
 * JSON Lines, plain or compressed (zstd, gzip): one record per physical line. A bad line is an error item,
 * not a failure, because one broken line in a multi-GB crawl should cost one record, not the file.
 */
import { InputError } from '../core/errors.ts';
import { readDecoded } from './decoded.ts';
import { parseJsonText } from './json-text.ts';
import { splitLines } from './lines.ts';
import type { InputFile, RawItem, ReadOptions } from './types.ts';

// JSON's own whitespace; anything else (NBSP, a stray U+FEFF) on its own line is a broken record.
const BLANK = /^[ \t\r\n]*$/;

export async function* readJsonl(file: InputFile, opts: ReadOptions = {}): AsyncGenerator<RawItem> {
  // onBytes counts what comes off the disk, so for .zst and .gz it is compressed bytes, matching file.size.
  const bytes = readDecoded(file, { onBytes: opts.onBytes });
  for await (const { text, line } of splitLines(bytes, { file: file.rel, maxLineBytes: opts.maxLineBytes })) {
    if (BLANK.test(text)) continue;
    const where = { file: file.rel, line };
    const parsed = parseJsonText(text);
    yield parsed.ok
      ? { kind: 'record', value: parsed.value, where }
      : { kind: 'error', error: new InputError('invalidJson', `line is not valid JSON: ${parsed.reason}`, where) };
  }
}
