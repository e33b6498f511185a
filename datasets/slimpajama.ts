/**
 * Record → document, for SlimPajama/RedPajama-shaped records (`{"text", "meta": {"redpajama_set_name"}}`)
 * and anything else that keeps its text in one top-level string field.
 */
import { InputError, type Location } from '../core/errors.ts';
import { isRecord } from '../core/is-record.ts';
import { asRecord, describe, field, overLimit } from './shape.ts';

export type DocResult = { kind: 'doc'; text: string } | { kind: 'skip'; error: InputError }; // error.reason is the skip reason

export function toDocument(
  value: unknown,
  where: Location,
  opts: {
    textField: string;
    excludeSets: ReadonlySet<string>;
    /** Longest text accepted, in characters (code points); longer is a 'tooLong' error. No limit if absent. */
    maxChars?: number;
  },
): DocResult {
  const skip = (reason: string, what: string, hint?: string): DocResult => ({
    kind: 'skip',
    error: new InputError(reason, what, where, hint),
  });
  const record = asRecord(value, where);
  if (record instanceof InputError) return { kind: 'skip', error: record };
  const text = field(record, opts.textField);
  if (typeof text !== 'string') {
    const found = text === undefined ? 'no such field' : describe(text);
    return skip(
      'missingText',
      `record has no string field "${opts.textField}" (found ${found})`,
      text === undefined ? fieldHint(record) : undefined,
    );
  }
  if (text === '') return skip('emptyText', `field "${opts.textField}" is empty`);
  if (opts.excludeSets.size > 0) {
    const set = setName(record);
    if (set !== undefined && opts.excludeSets.has(set)) return skip('excludedSet', `record is from excluded set "${set}"`);
  }
  // After the set filter: a document that would be left out anyway is not an error.
  const long = overLimit(`field "${opts.textField}"`, text, opts.maxChars, where);
  if (long !== undefined) return { kind: 'skip', error: long };
  return { kind: 'doc', text };
}

/** The record's `meta.redpajama_set_name`, if it has one. */
export function setName(record: unknown): string | undefined {
  if (!isRecord(record)) return undefined;
  const meta = field(record, 'meta');
  if (!isRecord(meta)) return undefined;
  const name = field(meta, 'redpajama_set_name');
  return typeof name === 'string' ? name : undefined;
}


/** The usual cause is a dataset whose text lives under another name; say which names exist. */
function fieldHint(record: Record<string, unknown>): string | undefined {
  const strings = Object.keys(record).filter((k) => typeof record[k] === 'string');
  if (strings.length === 0) return undefined;
  const shown = strings.slice(0, 5).map((k) => `"${k}"`).join(', ');
  return `string fields here: ${shown}${strings.length > 5 ? ', ...' : ''}; choose one with --text-field`;
}
