import { describe, expect, it } from 'vitest';
import { toExamples } from '../../datasets/sft-records.ts';
import type { Example } from '../../datasets/types.ts';
import { examplesOf, message, reason, where } from './examples-helpers.ts';
import { fixture, readAll, values } from './helpers.ts';

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
