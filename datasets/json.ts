/**
 * A `.json` (or `.json.gz`) file holding one top-level array of records, read without holding the
 * file: a byte scanner finds where each top-level element starts and ends (tracking strings, escapes
 * and nesting), and only that element is decoded and parsed. Structural characters are ASCII, and
 * UTF-8 never uses ASCII byte values inside a multi-byte character, so scanning raw bytes is exact.
 */
import { InputError, type Location } from '../core/errors.ts';
import { readDecoded } from './decoded.ts';
import { parseJsonText } from './json-text.ts';
import { DEFAULT_MAX_LINE_BYTES } from './lines.ts';
import type { InputFile, RawItem, ReadOptions } from './types.ts';

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

const C = {
  Quote: 0x22,
  Backslash: 0x5c,
  Comma: 0x2c,
  OpenBracket: 0x5b,
  CloseBracket: 0x5d,
  OpenBrace: 0x7b,
  CloseBrace: 0x7d,
} as const;

const isWs = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

type Phase = 'start' | 'afterOpen' | 'beforeElement' | 'inElement' | 'done';

export async function* readJsonArray(file: InputFile, opts: ReadOptions = {}): AsyncGenerator<RawItem> {
  const max = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const where = (record?: number): Location => (record === undefined ? { file: file.rel } : { file: file.rel, record });
  const notArray = () => new InputError('corruptFile', 'expected a JSON array of records', where());

  let phase = 'start' as Phase; // widened: TS cannot follow the switch's state changes
  let bomChecked = false;
  let inString = false;
  let escaped = false;
  let depth = 0;
  let index = 0;
  let pieces: Uint8Array[] = [];
  let pieceLen = 0;

  const emit = (tail: Uint8Array): RawItem => {
    const bytes = concat(pieces, pieceLen, tail);
    pieces = [];
    pieceLen = 0;
    const parsed = parseJsonText(decoder.decode(bytes));
    const item: RawItem = parsed.ok
      ? { kind: 'record', value: parsed.value, where: where(index) }
      : { kind: 'error', error: new InputError('invalidJson', `record is not valid JSON: ${parsed.reason}`, where(index)) };
    index++;
    return item;
  };
  const tooLong = (n: number) =>
    new InputError('recordTooLong', `record is longer than the limit of ${max} bytes (at least ${n} bytes)`, where(index));

  for await (let chunk of readDecoded(file, { onBytes: opts.onBytes })) {
    if (!bomChecked && chunk.length >= 3) {
      bomChecked = true;
      if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    let i = 0;
    let elemStart = 0;
    const n = chunk.length;
    while (i < n) {
      const b = chunk[i];
      switch (phase) {
        case 'start':
          if (isWs(b)) break;
          if (b !== C.OpenBracket) throw notArray();
          phase = 'afterOpen';
          break;
        case 'afterOpen':
        case 'beforeElement':
          if (isWs(b)) break;
          if (b === C.CloseBracket) {
            if (phase === 'beforeElement') {
              throw new InputError('corruptFile', 'a "," is followed by "]" in the JSON array', where(index));
            }
            phase = 'done';
            break;
          }
          phase = 'inElement';
          elemStart = i;
          inString = false;
          escaped = false;
          depth = 0;
          continue; // rescan this byte as part of the element
        case 'inElement':
          if (inString) {
            // Records are mostly string bytes; this tight loop is much faster than going round the switch.
            while (i < n) {
              const s = chunk[i];
              if (escaped) escaped = false;
              else if (s === C.Backslash) escaped = true;
              else if (s === C.Quote) {
                inString = false;
                break;
              }
              i++;
            }
            break;
          }
          if (b === C.Quote) inString = true;
          else if (b === C.OpenBrace || b === C.OpenBracket) depth++;
          else if ((b === C.CloseBrace || b === C.CloseBracket) && depth > 0) depth--;
          else if (depth === 0 && (b === C.Comma || b === C.CloseBracket)) {
            if (pieceLen + (i - elemStart) > max) throw tooLong(pieceLen + (i - elemStart));
            yield emit(chunk.subarray(elemStart, i));
            phase = b === C.Comma ? 'beforeElement' : 'done';
          }
          break;
        case 'done':
          if (!isWs(b)) throw new InputError('corruptFile', 'unexpected data after the end of the JSON array', where());
          break;
      }
      i++;
    }
    if (phase === 'inElement') {
      // Copy: a short tail must not pin the whole read buffer while the element continues.
      const rest = chunk.slice(elemStart);
      pieceLen += rest.length;
      if (pieceLen > max) throw tooLong(pieceLen);
      pieces.push(rest);
    }
  }
  if (phase === 'start') throw notArray();
  if (phase !== 'done') {
    throw new InputError('truncatedFile', 'the file ends inside the JSON array (no closing "]")', where(index));
  }
}

function concat(pieces: Uint8Array[], len: number, tail: Uint8Array): Uint8Array {
  return len === 0 ? tail : Buffer.concat([...pieces, tail], len + tail.length);
}
