/**
 * ShareGPT records (`{conversations: [{from, value}, ...], system_prompt?}`) → SFT examples: one per
 * human turn answered by the gpt turn right after it.
 */
import { InputError, type Location } from '../core/errors.ts';
import { isRecord } from '../core/is-record.ts';
import { describe, field, overLimit } from './shape.ts';
import type { Example, ExampleOptions, ExamplesResult } from './types.ts';

type Role = 'human' | 'gpt' | 'system';
const ROLES: Record<string, Role> = { human: 'human', user: 'human', gpt: 'gpt', assistant: 'gpt', system: 'system' };

export function fromShareGpt(record: Record<string, unknown>, where: Location, opts: ExampleOptions = {}): ExamplesResult {
  const bad = (what: string): ExamplesResult => ({ kind: 'skip', error: new InputError('malformedConversation', what, where) });
  const tooLong = (what: string, text: string): ExamplesResult | undefined => {
    const error = overLimit(what, text, opts.maxChars, where);
    return error === undefined ? undefined : { kind: 'skip', error };
  };
  const conversations = field(record, 'conversations');
  if (!Array.isArray(conversations)) return bad(`field "conversations" is ${describe(conversations)}, not an array`);
  const systemPrompt = field(record, 'system_prompt') ?? '';
  if (typeof systemPrompt !== 'string') return bad(`field "system_prompt" is ${describe(systemPrompt)}, not a string`);
  const longPrompt = tooLong('field "system_prompt"', systemPrompt);
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
    const long = tooLong(`conversation turn ${i}`, v);
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
