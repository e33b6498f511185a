/** Small helpers for turning a parsed JSON value into a record and for naming what was found instead. */
import { InputError, type Location } from '../pipeline/errors.ts';

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

export const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The record, or the 'notAnObject' error every record mapper reports for anything else. */
export function asRecord(value: unknown, where: Location): Record<string, unknown> | InputError {
  return isRecord(value) ? value : new InputError('notAnObject', `record is ${describe(value)}, not a JSON object`, where);
}
