import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { toExamples } from '../../datasets/alpaca.ts';
import { type ExamplesResult } from '../../datasets/types.ts';
import type { Example } from '../../datasets/types.ts';
import { fixture, readAll, values } from './helpers.ts';

const where = { file: 'a.jsonl', line: 3 };

function examplesOf(r: ExamplesResult): Example[] {
  if (r.kind !== 'examples') throw r.error;
  return r.examples;
}

function reason(value: unknown) {
  const r = toExamples(value, where);
  return r.kind === 'skip' ? r.error.reason : 'examples';
}

function message(value: unknown) {
  const r = toExamples(value, where);
  if (r.kind !== 'skip') throw new Error('expected a skip');
  expect(r.error).toBeInstanceOf(InputError);
  expect(r.error.where).toEqual(where);
  return r.error.message;
}

async function fixtureExamples(rel: string): Promise<Example[]> {
  const records = values(await readAll(await fixture(rel)));
  return records.flatMap((v, i) => {
    const r = toExamples(v, { file: rel, record: i });
    expect(r).toMatchObject({ kind: 'examples', emptyAnswers: 0 });
    return examplesOf(r);
  });
}

describe('toExamples on the Alpaca fixtures', () => {
  it('the JSON, JSONL and Parquet copies give the same 128 examples', async () => {
    const json = await fixtureExamples('alpaca/alpaca_head128.json');
    expect(json).toHaveLength(128);
    expect(json.filter((e) => e.input !== '')).toHaveLength(67);
    expect(json[0]).toEqual({
      instruction: 'Give three tips for staying healthy.',
      input: '',
      answer:
        '1.Eat a balanced diet and make sure to include plenty of fruits and vegetables. \n2. Exercise regularly to keep your body active and strong. \n3. Get enough sleep and maintain a consistent sleep schedule.',
    });
    expect(await fixtureExamples('alpaca/alpaca_head128.jsonl')).toEqual(json);
    // The Parquet copy's extra `text` column must not leak into the example.
    expect(await fixtureExamples('alpaca/alpaca_head128.parquet')).toEqual(json);
  });

  it('the ShareGPT copy gives one example per record, with instruction and input joined as the query', async () => {
    const alpaca = await fixtureExamples('alpaca/alpaca_head128.json');
    const sharegpt = await fixtureExamples('alpaca/alpaca_head128.sharegpt.json');
    expect(sharegpt).toEqual(
      alpaca.map((e) => ({ instruction: e.input === '' ? e.instruction : `${e.instruction}\n\n${e.input}`, input: '', answer: e.answer })),
    );
  });
});

describe('toExamples on Alpaca records', () => {
  it('reads absent, null and empty input as ""', () => {
    expect(examplesOf(toExamples({ instruction: 'i', output: 'o' }, where))).toEqual([{ instruction: 'i', input: '', answer: 'o' }]);
    expect(examplesOf(toExamples({ instruction: 'i', input: null, output: 'o' }, where))).toEqual([{ instruction: 'i', input: '', answer: 'o' }]);
    expect(examplesOf(toExamples({ instruction: 'i', input: 'x', output: 'o', text: 't', id: 4 }, where))).toEqual([
      { instruction: 'i', input: 'x', answer: 'o' },
    ]);
  });

  it('counts an empty output instead of failing', () => {
    expect(toExamples({ instruction: 'i', input: '', output: '' }, where)).toEqual({ kind: 'examples', examples: [], emptyAnswers: 1 });
  });

  it('skips with the documented reasons', () => {
    expect(reason('text')).toBe('notAnObject');
    expect(reason(null)).toBe('notAnObject');
    expect(reason([{ instruction: 'i', output: 'o' }])).toBe('notAnObject');
    expect(reason({ output: 'o' })).toBe('missingField');
    expect(reason({ instruction: 'i' })).toBe('missingField');
    expect(reason({ instruction: 1, output: 'o' })).toBe('missingField');
    expect(reason({ instruction: 'i', output: null })).toBe('missingField');
    expect(reason({ instruction: 'i', input: 3, output: 'o' })).toBe('missingField');
  });

  it('names the field and what it found, at the record location', () => {
    expect(message(42)).toBe('a.jsonl:3: record is a number, not a JSON object');
    expect(message({ instruction: 'i', output: 7 })).toBe('a.jsonl:3: record has no string field "output" (found a number)');
    expect(message({ prompt: 'i', output: 'o' })).toMatch(/^a\.jsonl:3: record has no string field "instruction" \(found no such field\) \(.*ShareGPT/);
    expect(message({ instruction: 'i', input: ['x'], output: 'o' })).toBe('a.jsonl:3: field "input" is an array, not a string');
  });

  it('does not read fields from the prototype', () => {
    expect(reason(Object.create({ instruction: 'i', output: 'o' }))).toBe('missingField');
  });
});

describe('toExamples on ShareGPT records', () => {
  const turn = (from: string, value: string) => ({ from, value });

  it('makes one example per human turn directly followed by a gpt turn, without the earlier turns', () => {
    const r = toExamples(
      { conversations: [turn('human', 'q1'), turn('gpt', 'a1'), turn('user', 'q2'), turn('assistant', 'a2'), turn('human', 'q3'), turn('gpt', 'a3')] },
      where,
    );
    expect(r).toEqual({
      kind: 'examples',
      emptyAnswers: 0,
      examples: [
        { instruction: 'q1', input: '', answer: 'a1' },
        { instruction: 'q2', input: '', answer: 'a2' },
        { instruction: 'q3', input: '', answer: 'a3' },
      ],
    });
  });

  it('passes over turns that are not part of a pair', () => {
    const r = toExamples({ conversations: [turn('gpt', 'hello'), turn('human', 'q0'), turn('human', 'q1'), turn('gpt', 'a1'), turn('gpt', 'more'), turn('human', 'last')] }, where);
    expect(examplesOf(r)).toEqual([{ instruction: 'q1', input: '', answer: 'a1' }]);
  });

  it('counts empty answers and keeps the other pairs', () => {
    const r = toExamples({ conversations: [turn('human', 'q1'), turn('gpt', ''), turn('human', 'q2'), turn('gpt', 'a2')] }, where);
    expect(r).toEqual({ kind: 'examples', emptyAnswers: 1, examples: [{ instruction: 'q2', input: '', answer: 'a2' }] });
    expect(toExamples({ conversations: [turn('human', 'q1'), turn('gpt', '')] }, where)).toEqual({ kind: 'examples', examples: [], emptyAnswers: 1 });
  });

  it('takes the system text from system_prompt, else from a system turn', () => {
    const pair = [turn('human', 'q'), turn('gpt', 'a')];
    expect(examplesOf(toExamples({ conversations: pair, system_prompt: 'Be brief.' }, where))).toEqual([{ instruction: 'q', input: '', answer: 'a', system: 'Be brief.' }]);
    expect(examplesOf(toExamples({ conversations: [turn('system', 'From turn.'), ...pair] }, where))).toEqual([
      { instruction: 'q', input: '', answer: 'a', system: 'From turn.' },
    ]);
    expect(examplesOf(toExamples({ conversations: [turn('system', 'From turn.'), ...pair], system_prompt: 'From field.' }, where))[0].system).toBe('From field.');
    // "" is how many exports write "no system prompt": the template's own system text stays.
    expect(examplesOf(toExamples({ conversations: pair, system_prompt: '' }, where))[0]).not.toHaveProperty('system');
    expect(examplesOf(toExamples({ conversations: pair, system_prompt: null }, where))[0]).not.toHaveProperty('system');
  });

  it('reads a record with conversations as ShareGPT even with Alpaca fields beside it', () => {
    expect(examplesOf(toExamples({ instruction: 'x', output: 'y', conversations: [turn('human', 'q'), turn('gpt', 'a')] }, where))).toEqual([
      { instruction: 'q', input: '', answer: 'a' },
    ]);
  });

  it('skips malformed conversations, naming the turn', () => {
    expect(reason({ conversations: 'hi' })).toBe('malformedConversation');
    expect(message({ conversations: null })).toBe('a.jsonl:3: field "conversations" is null, not an array');
    expect(message({ conversations: [] })).toBe('a.jsonl:3: field "conversations" is empty');
    expect(message({ conversations: [turn('human', 'q'), 'a'] })).toBe('a.jsonl:3: conversation turn 1 is not {from: string, value: string} (found a string)');
    expect(message({ conversations: [turn('human', 'q'), { from: 'gpt', value: 5 }] })).toBe(
      'a.jsonl:3: conversation turn 1 is not {from: string, value: string} (found an object with from: a string, value: a number)',
    );
    expect(message({ conversations: [turn('human', 'q'), { from: 'gpt' }] })).toMatch(/turn 1 .*value: missing/);
    expect(message({ conversations: [turn('human', 'q'), turn('bard', 'a')] })).toMatch(/turn 1 has "from": "bard"/);
    expect(message({ conversations: [turn('human', 'q')] })).toMatch(/no human turn followed by a gpt turn \(turn 0 is a human turn/);
    expect(message({ conversations: [turn('system', 's'), turn('gpt', 'a'), turn('human', 'q')] })).toMatch(/\(turn 1 is a gpt turn/);
    expect(message({ conversations: [turn('system', 's')] })).toMatch(/only system turns/);
    expect(message({ conversations: [turn('human', 'q'), turn('gpt', 'a')], system_prompt: 1 })).toMatch(/"system_prompt" is a number/);
  });
});
