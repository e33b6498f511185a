import { describe, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { toDocument } from '../../datasets/slimpajama.ts';
import { fixture, readAll, values } from './helpers.ts';

const where = { file: 'c.jsonl', line: 7 };
const opts = { textField: 'text', excludeSets: new Set(['RedPajamaGithub']) };

function reason(value: unknown, o = opts) {
  const r = toDocument(value, where, o);
  return r.kind === 'skip' ? r.error.reason : 'doc';
}

describe('toDocument', () => {
  it('returns the text of a SlimPajama record', () => {
    expect(toDocument({ text: 'hi', meta: { redpajama_set_name: 'RedPajamaC4' } }, where, opts)).toEqual({ kind: 'doc', text: 'hi' });
  });

  it('skips with the documented reasons', () => {
    expect(reason('text')).toBe('notAnObject');
    expect(reason(null)).toBe('notAnObject');
    expect(reason([{ text: 'x' }])).toBe('notAnObject');
    expect(reason({ meta: {} })).toBe('missingText');
    expect(reason({ text: null })).toBe('missingText');
    expect(reason({ text: 42 })).toBe('missingText');
    expect(reason({ text: '' })).toBe('emptyText');
    expect(reason({ text: 'x', meta: { redpajama_set_name: 'RedPajamaGithub' } })).toBe('excludedSet');
    expect(reason({ text: 'x', meta: { redpajama_set_name: 'RedPajamaBook' } })).toBe('doc');
    expect(reason({ text: 'x', meta: null })).toBe('doc');
  });

  it('names the field and what it found, at the record location', () => {
    const r = toDocument({ text: 42 }, where, opts);
    expect(r.kind).toBe('skip');
    if (r.kind !== 'skip') return;
    expect(r.error).toBeInstanceOf(InputError);
    expect(r.error.where).toEqual(where);
    expect(r.error.message).toBe('c.jsonl:7: record has no string field "text" (found a number)');
    const missing = toDocument({ content: 'x' }, where, opts);
    expect(missing.kind === 'skip' && missing.error.message).toMatch(/found no such field.*"content".*--text-field/);
  });

  it('does not read the text field from the prototype', () => {
    expect(reason({}, { textField: 'toString', excludeSets: new Set() })).toBe('missingText');
  });

  it('uses another text field when asked', () => {
    expect(toDocument({ output: 'o' }, where, { textField: 'output', excludeSets: new Set() })).toEqual({ kind: 'doc', text: 'o' });
  });

  it('excluding RedPajamaGithub drops 7 of chunk_0', async () => {
    const docs = values(await readAll(await fixture('slimpajama/chunk_0.jsonl'))).map((v) => toDocument(v, {}, opts));
    expect(docs.filter((d) => d.kind === 'doc')).toHaveLength(146);
    expect(docs.filter((d) => d.kind === 'skip' && d.error.reason === 'excludedSet')).toHaveLength(7);
  });
});
