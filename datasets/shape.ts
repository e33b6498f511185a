/** Small helpers for turning a parsed JSON value into a record, and for naming what was found instead. */
import { InputError, type Location } from '../core/errors.ts';
import { isRecord } from '../core/is-record.ts';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** The record, or the 'notAnObject' error every record mapper reports for anything else. */
export function asRecord(value: unknown, where: Location): Record<string, unknown> | InputError {
  return isRecord(value) ? value : new InputError('notAnObject', `record is ${describe(value)}, not a JSON object`, where);
}

/**
 * The text's length in code points if that is over `max`, else undefined. Code points, not UTF-16
 * units, so that "characters" means what it means to Python's len() and to the user; a string is
 * only counted when its UTF-16 length (an upper bound) is over the limit.
 */
export function tooLong(text: string, max: number): number | undefined {
  if (text.length <= max) return undefined;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A low surrogate right after a high one is the second half of one code point.
    if (c >= 0xdc00 && c <= 0xdfff && i > 0) {
      const p = text.charCodeAt(i - 1);
      if (p >= 0xd800 && p <= 0xdbff) continue;
    }
    n++;
  }
  return n > max ? n : undefined;
}

const TOO_LONG_HINT = 'raise --max-doc-chars, or pass --on-error skip to leave such records out';

/** The 'tooLong' error for `text` when it has more than `max` characters (no limit when `max` is absent). */
export function overLimit(what: string, text: string, max: number | undefined, where: Location): InputError | undefined {
  const n = max === undefined ? undefined : tooLong(text, max);
  return n === undefined ? undefined : new InputError('tooLong', `${what} has ${n} characters, more than the limit of ${max}`, where, TOO_LONG_HINT);
}

/** An own property only: a record's `__proto__` or `constructor` key is data, never the prototype's. */
export const field = (record: Record<string, unknown>, name: string): unknown => (Object.hasOwn(record, name) ? record[name] : undefined);
