/**
 * Alpaca records (`{instruction, input?, output}`) → SFT examples: one each. sft-records.ts sends
 * here every record that is no other shape.
 */
import { InputError, type Location } from '../core/errors.ts';
import { describe, field, overLimit } from './shape.ts';
import type { ExampleOptions, ExamplesResult } from './types.ts';

export function fromAlpaca(record: Record<string, unknown>, where: Location, opts: ExampleOptions = {}): ExamplesResult {
  const skip = (reason: string, what: string, hint?: string): ExamplesResult => ({ kind: 'skip', error: new InputError(reason, what, where, hint) });
  const missing = (name: string, v: unknown) =>
    skip(
      'missingField',
      `record has no string field "${name}" (found ${v === undefined ? 'no such field' : describe(v)})`,
      v === undefined ? 'expected an Alpaca record {instruction, input, output} or a ShareGPT record {conversations}' : undefined,
    );
  const instruction = field(record, 'instruction');
  if (typeof instruction !== 'string') return missing('instruction', instruction);
  const output = field(record, 'output');
  if (typeof output !== 'string') return missing('output', output);
  // Alpaca exports write a missing input as absent, null or "", all meaning the same.
  const input = field(record, 'input') ?? '';
  if (typeof input !== 'string') return skip('missingField', `field "input" is ${describe(input)}, not a string`);
  if (output === '') return { kind: 'examples', examples: [], emptyAnswers: 1 };
  const long =
    overLimit('field "instruction"', instruction, opts.maxChars, where) ??
    overLimit('field "input"', input, opts.maxChars, where) ??
    overLimit('field "output"', output, opts.maxChars, where);
  if (long) return { kind: 'skip', error: long };
  return { kind: 'examples', examples: [{ instruction, input, answer: output }], emptyAnswers: 0 };
}
