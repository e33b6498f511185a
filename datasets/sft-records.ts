/**
 * Which SFT record shape a record is, so which reader makes its examples: a record with a
 * `conversations` field is ShareGPT (sharegpt.ts) whatever else it holds; any other object is Alpaca
 * (alpaca.ts), whose missing-field error names every shape. A new shape is a reader, its test, a
 * line here and its name in that error.
 *
 * Covered by test/datasets/alpaca.test.ts and test/datasets/sharegpt.test.ts, which send records
 * through it as the pipeline does.
 */
import { InputError, type Location } from '../core/errors.ts';
import { fromAlpaca } from './alpaca.ts';
import { asRecord } from './shape.ts';
import { fromShareGpt } from './sharegpt.ts';
import type { ExampleOptions, ExamplesResult } from './types.ts';

export function toExamples(value: unknown, where: Location, opts: ExampleOptions = {}): ExamplesResult {
  const record = asRecord(value, where);
  if (record instanceof InputError) return { kind: 'skip', error: record };
  return Object.hasOwn(record, 'conversations') ? fromShareGpt(record, where, opts) : fromAlpaca(record, where, opts);
}
