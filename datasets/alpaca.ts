/**
 * Record → SFT examples, for Alpaca records (`{instruction, input?, output}`) and ShareGPT records
 * (`{conversations: [{from, value}, ...], system_prompt?}`). A record with a `conversations` field is
 * read as ShareGPT whatever else it holds.
 */
import { InputError, type Location } from '../pipeline/errors.ts';
import { asRecord, describe, isRecord, tooLong, TOO_LONG_HINT } from './shape.ts';
import type { Example } from '../pipeline/template.ts';

export type SkipReason = 'notAnObject' | 'missingField' | 'malformedConversation' | 'tooLong';

export interface ExampleOptions {
  /** Longest text field accepted, in characters (code points); longer is a 'tooLong' error. No limit if absent. */
  maxChars?: number;
}

export type ExamplesResult =
  // emptyAnswers: turns/records whose answer is "" (always skipped and counted by the caller)
  | { kind: 'examples'; examples: Example[]; emptyAnswers: number }
  | { kind: 'skip'; error: InputError }; // a bad record; error.reason is the skip reason

type Role = 'human' | 'gpt' | 'system';
const ROLES: Record<string, Role> = { human: 'human', user: 'human', gpt: 'gpt', assistant: 'gpt', system: 'system' };

export function toExamples(value: unknown, where: Location, opts: ExampleOptions = {}): ExamplesResult {
  const skip = (reason: SkipReason, what: string, hint?: string): ExamplesResult => ({
    kind: 'skip',
    error: new InputError(reason, what, where, hint),
  });
  const record = asRecord(value, where);
  if (record instanceof InputError) return { kind: 'skip', error: record };
  const field = (name: string) => (Object.hasOwn(record, name) ? record[name] : undefined);

  // Says which field is too long, or undefined if none is.
  const overLimit = (what: string, text: string): ExamplesResult | undefined => {
    const n = opts.maxChars === undefined ? undefined : tooLong(text, opts.maxChars);
    return n === undefined ? undefined : skip('tooLong', `${what} has ${n} characters, more than the limit of ${opts.maxChars}`, TOO_LONG_HINT);
  };

  if (Object.hasOwn(record, 'conversations')) return fromShareGpt(field, skip, overLimit);

  const missing = (name: string, v: unknown) =>
    skip(
      'missingField',
      `record has no string field "${name}" (found ${v === undefined ? 'no such field' : describe(v)})`,
      v === undefined ? 'expected an Alpaca record {instruction, input, output} or a ShareGPT record {conversations}' : undefined,
    );
  const instruction = field('instruction');
  if (typeof instruction !== 'string') return missing('instruction', instruction);
  const output = field('output');
  if (typeof output !== 'string') return missing('output', output);
  // Alpaca exports write a missing input as absent, null or "", all meaning the same.
  const input = field('input') ?? '';
  if (typeof input !== 'string') return skip('missingField', `field "input" is ${describe(input)}, not a string`);
  if (output === '') return { kind: 'examples', examples: [], emptyAnswers: 1 };
  const long = overLimit('field "instruction"', instruction) ?? overLimit('field "input"', input) ?? overLimit('field "output"', output);
  if (long) return long;
  return { kind: 'examples', examples: [{ instruction, input, answer: output }], emptyAnswers: 0 };
}

function fromShareGpt(
  field: (name: string) => unknown,
  skip: (reason: SkipReason, what: string, hint?: string) => ExamplesResult,
  overLimit: (what: string, text: string) => ExamplesResult | undefined,
): ExamplesResult {
  const bad = (what: string) => skip('malformedConversation', what);
  const conversations = field('conversations');
  if (!Array.isArray(conversations)) return bad(`field "conversations" is ${describe(conversations)}, not an array`);
  const systemPrompt = field('system_prompt') ?? '';
  if (typeof systemPrompt !== 'string') return bad(`field "system_prompt" is ${describe(systemPrompt)}, not a string`);
  const longPrompt = overLimit('field "system_prompt"', systemPrompt);
  if (longPrompt) return longPrompt;

  const turns: Array<{ role: Role; value: string }> = [];
  for (let i = 0; i < conversations.length; i++) {
    const t: unknown = conversations[i];
    const from = isRecord(t) && Object.hasOwn(t, 'from') ? t.from : undefined;
    const v = isRecord(t) && Object.hasOwn(t, 'value') ? t.value : undefined;
    if (typeof from !== 'string' || typeof v !== 'string') {
      return bad(`conversation turn ${i} is not {from: string, value: string} (found ${describeTurn(t)})`);
    }
    const role = Object.hasOwn(ROLES, from) ? ROLES[from] : undefined;
    if (role === undefined) return bad(`conversation turn ${i} has "from": ${JSON.stringify(from)} (expected human, user, gpt, assistant or system)`);
    const long = overLimit(`conversation turn ${i}`, v);
    if (long) return long;
    turns.push({ role, value: v });
  }

  // An empty system_prompt is how many exports write "none", so it leaves the template's system text.
  let system: string | undefined = systemPrompt === '' ? undefined : systemPrompt;
  const fromRecord = system !== undefined;
  const examples: Example[] = [];
  let pairs = 0;
  let emptyAnswers = 0;
  let firstUnpaired: number | undefined;
  for (let i = 0; i < turns.length; i++) {
    const t = turns[i];
    if (t.role === 'system') {
      if (!fromRecord) system = t.value;
      continue;
    }
    const next = turns[i + 1];
    if (t.role === 'human' && next?.role === 'gpt') {
      pairs++;
      // Each pair stands alone, without the turns before it, as the MEAP paper's SFT code trains.
      if (next.value === '') emptyAnswers++;
      else examples.push({ instruction: t.value, input: '', answer: next.value, ...(system === undefined ? {} : { system }) });
      i++;
      continue;
    }
    firstUnpaired ??= i;
  }
  if (pairs === 0) {
    if (turns.length === 0) return bad('field "conversations" is empty');
    if (firstUnpaired === undefined) return bad('conversation has only system turns');
    const i = firstUnpaired;
    return bad(
      turns[i].role === 'human'
        ? `conversation has no human turn followed by a gpt turn (turn ${i} is a human turn with no gpt turn right after it)`
        : `conversation has no human turn followed by a gpt turn (turn ${i} is a gpt turn with no human turn right before it)`,
    );
  }
  return { kind: 'examples', examples, emptyAnswers };
}


function describeTurn(t: unknown): string {
  if (!isRecord(t)) return describe(t);
  const part = (k: string) => `${k}: ${Object.hasOwn(t, k) ? describe(t[k]) : 'missing'}`;
  return `an object with ${part('from')}, ${part('value')}`;
}

