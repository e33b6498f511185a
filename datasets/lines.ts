/**
 * Bytes → lines. Lines are cut on raw bytes before decoding, so a multi-byte character split across
 * two chunks is never decoded in halves, and an over-long line is refused before it is ever turned
 * into a (twice as large) JS string.
 */
import { InputError } from '../core/errors.ts';

export interface Line {
  text: string;
  /** 1-based physical line number (LF-terminated). */
  line: number;
}

export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

// ignoreBOM: each decode() starts a fresh stream, and without it a U+FEFF that happens to begin a
// line would be silently dropped. The file-level BOM is stripped explicitly on line 1 instead.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

export async function* splitLines(
  source: AsyncIterable<Uint8Array>,
  opts: { file?: string; maxLineBytes?: number } = {},
): AsyncGenerator<Line> {
  const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  // Pieces of the current unfinished line; joined once when its LF arrives, so a long line costs
  // O(length) however many chunks it spans.
  let pending: Uint8Array[] = [];
  let pendingLen = 0;
  let lineNo = 0;

  const tooLong = (n: number) =>
    new InputError(
      'lineTooLong',
      `line is longer than the limit of ${max} bytes (at least ${n} bytes)`,
      { file: opts.file, line: lineNo + 1 },
      'raise the maximum line length, or check that the file really is JSON Lines',
    );

  const finish = (bytes: Uint8Array): Line => {
    lineNo++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let start = 0;
    if (lineNo === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
    if (end - start > max) throw tooLong(end - start);
    return { text: decoder.decode(bytes.subarray(start, end)), line: lineNo };
  };

  const join = (tail: Uint8Array): Uint8Array => {
    if (pendingLen === 0) return tail;
    const out = Buffer.concat([...pending, tail], pendingLen + tail.length);
    pending = [];
    pendingLen = 0;
    return out;
  };

  for await (const chunk of source) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, start);
      if (nl === -1) break;
      // +1 lets a CR before the LF through; `finish` checks the exact length.
      if (pendingLen + (nl - start) > max + 1) throw tooLong(pendingLen + (nl - start));
      yield finish(join(chunk.subarray(start, nl)));
      start = nl + 1;
    }
    if (start < chunk.length) {
      // Copy: the source may own the chunk, and a short tail must not pin a large buffer.
      const rest = chunk.slice(start);
      pendingLen += rest.length;
      if (pendingLen > max + 1) throw tooLong(pendingLen);
      pending.push(rest);
    }
  }
  if (pendingLen > 0) yield finish(join(new Uint8Array(0)));
}
