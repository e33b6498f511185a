import { describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES } from '../../pipeline/template-file.ts';
import { parsePrompt } from '../../schemas/prompt.ts';
import { TemplateFileSchema } from '../../schemas/template.ts';

describe('template schema', () => {
  const issue = (t: unknown) => {
    const r = TemplateFileSchema.safeParse(t);
    return r.success ? null : `${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`;
  };

  it('accepts the builtins', () => {
    expect(issue(BUILTIN_TEMPLATES.alpaca)).toBeNull();
    expect(issue(BUILTIN_TEMPLATES.llama3)).toBeNull();
  });

  it('parses placeholders and literal braces', () => {
    expect(parsePrompt('a {{b}} {query}}}')).toEqual({ segments: [{ literal: 'a {b} ' }, { placeholder: 'query' }, { literal: '}' }] });
    expect(parsePrompt('{x}')).toMatchObject({ error: expect.stringContaining('unknown placeholder {x}') });
    expect(parsePrompt('{}')).toMatchObject({ error: expect.stringContaining('unknown placeholder {}') });
    expect(parsePrompt('{ query }')).toMatchObject({ error: expect.stringContaining('unknown placeholder { query }') });
    expect(parsePrompt('{"a": 1}')).toMatchObject({ error: expect.stringContaining('unknown placeholder {"a": 1}') });
    expect(parsePrompt('a { b')).toMatchObject({ error: expect.stringContaining('unmatched "{" at offset 2') });
    expect(parsePrompt('a {b {query}')).toMatchObject({ error: expect.stringContaining('unmatched "{" at offset 2') });
    expect(parsePrompt('a } b')).toMatchObject({ error: expect.stringContaining('unmatched "}" at offset 2') });
  });

  it('rejects prompts that would drop part of the record, and bad markers', () => {
    expect(issue({ name: 'x', prompt: 'Hi {system}' })).toMatch(/^prompt: uses neither \{instruction\} nor \{query\}/);
    expect(issue({ name: 'x', prompt: '{instruction}', promptWithInput: '{instruction}' })).toMatch(/^promptWithInput: .*\{input\}/);
    expect(issue({ name: 'x', prompt: '{instruction}', promptWithInput: '{instruction} {input}' })).toBeNull();
    expect(issue({ name: 'x', prompt: '{query}', markers: ['<a>'] })).toMatch(/^markers\.0: "<a>" does not occur/);
    expect(issue({ name: 'x', prompt: '<a>{query}', markers: ['<a>', '<a>'] })).toMatch(/^markers\.1: "<a>" is listed twice/);
    // Only literal text counts: a marker cut in two by a placeholder is not there.
    expect(issue({ name: 'x', prompt: '<a{query}>', markers: ['<a>'] })).toMatch(/does not occur/);
    expect(issue({ name: 'x', prompt: '{query}', markers: [''] })).toMatch(/^markers\.0:/);
    expect(issue({ name: '', prompt: '{query}' })).toMatch(/^name:/);
    expect(issue({ name: 'x', prompt: '{query}', system: 3 })).toMatch(/^system:/);
  });
});
