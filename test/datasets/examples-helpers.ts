/** What the Alpaca and ShareGPT tests ask of toExamples' result, at one fixed location. */
import { expect } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { toExamples } from '../../datasets/sft-records.ts';
import type { Example, ExamplesResult } from '../../datasets/types.ts';

export const where = { file: 'a.jsonl', line: 3 };

export function examplesOf(r: ExamplesResult): Example[] {
  if (r.kind !== 'examples') throw r.error;
  return r.examples;
}

/** The skip reason, or 'examples' when the record maps. */
export function reason(value: unknown) {
  const r = toExamples(value, where);
  return r.kind === 'skip' ? r.error.reason : 'examples';
}

/** A skipped record's one-line message; it must name the record's location. */
export function message(value: unknown) {
  const r = toExamples(value, where);
  if (r.kind !== 'skip') throw new Error('expected a skip');
  expect(r.error).toBeInstanceOf(InputError);
  expect(r.error.where).toEqual(where);
  return r.error.message;
}
