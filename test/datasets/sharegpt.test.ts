/**
 * ShareGPT records reach fromShareGpt through toExamples, as the pipeline sends them, so that the
 * routing by `conversations` is tested along with the mapping.
 */
import { describe, expect, it } from 'vitest';
import { toExamples } from '../../datasets/sft-records.ts';
import { examplesOf, message, reason, where } from './examples-helpers.ts';

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
