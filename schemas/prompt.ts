/**
 * A template's prompt text, as literal text and placeholders. Apart from the zod schema of
 * template.ts: unit worker threads compile templates and load no zod.
 *
 * Covered by test/schemas/template.test.ts (prompts parsed, stray braces refused).
 */

/** What a template may ask a record for. `query` is instruction plus "\n\n" + input when input is non-empty. */
export const PLACEHOLDERS = ['instruction', 'input', 'query', 'system'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];

export type TemplateSegment = { literal: string } | { placeholder: Placeholder };

/**
 * Splits a prompt into literal text and placeholders, `{{`/`}}` read as literal braces. A stray brace
 * is an error rather than literal text: a user who pastes JSON into a prompt must find out that it
 * needs doubling before the shards are written, not after.
 */
export function parsePrompt(text: string): { segments: TemplateSegment[] } | { error: string } {
  const segments: TemplateSegment[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      literal += c;
      i += 2;
      continue;
    }
    if (c === '}') return { error: `unmatched "}" at offset ${i} (write "}}" for a literal brace)` };
    if (c !== '{') {
      literal += c;
      i++;
      continue;
    }
    const close = text.indexOf('}', i + 1);
    const open = text.indexOf('{', i + 1);
    if (close < 0 || (open >= 0 && open < close)) return { error: `unmatched "{" at offset ${i} (write "{{" for a literal brace)` };
    const name = text.slice(i + 1, close);
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      return { error: `unknown placeholder {${name}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}; write "{{" and "}}" for literal braces)` };
    }
    if (literal !== '') segments.push({ literal });
    literal = '';
    segments.push({ placeholder: name as Placeholder });
    i = close + 1;
  }
  if (literal !== '') segments.push({ literal });
  return { segments };
}
