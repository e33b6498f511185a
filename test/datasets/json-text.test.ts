import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJsonText } from '../../datasets/json-text.ts';

const arrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const objects = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

describe('parseJsonText', () => {
  it('returns any JSON value', () => {
    expect(parseJsonText('{"text":"a","n":[1,2.5,null,true]}')).toEqual({ ok: true, value: { text: 'a', n: [1, 2.5, null, true] } });
    expect(parseJsonText(' "s" ')).toEqual({ ok: true, value: 's' });
    expect(parseJsonText('3')).toEqual({ ok: true, value: 3 });
    expect(parseJsonText('null')).toEqual({ ok: true, value: null });
  });

  it('gives a short one-line reason for invalid JSON', () => {
    for (const text of ['{"a":', '{"a":1} x', '', `{"${'k'.repeat(5000)}" 1}`, `[${'1,'.repeat(5000)}]`]) {
      const r = parseJsonText(text);
      expect(r.ok, text.slice(0, 20)).toBe(false);
      if (r.ok) continue;
      expect(r.reason.length).toBeGreaterThan(0);
      expect(r.reason.length).toBeLessThanOrEqual(120);
      expect(r.reason).not.toContain('\n');
    }
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more`, () => {
    for (const deep of [arrays, objects]) {
      expect(parseJsonText(deep(MAX_JSON_DEPTH)).ok).toBe(true);
      expect(parseJsonText(deep(MAX_JSON_DEPTH + 1))).toEqual({ ok: false, reason: `nested more than ${MAX_JSON_DEPTH} levels deep` });
    }
    // Far deeper than any recursive walk could go: still a verdict, not a stack overflow.
    expect(parseJsonText(arrays(200_000)).ok).toBe(false);
  });

  it('turns lone surrogate escapes into U+FFFD, in values and keys at any depth, and keeps valid pairs', () => {
    expect(parseJsonText('"a\\ud800b"')).toEqual({ ok: true, value: 'a\uFFFDb' });
    expect(parseJsonText('{"k\\udc00":[{"x":"\\ude42"}],"ok":"\\ud83d\\ude42"}')).toEqual({
      ok: true,
      value: { 'k\uFFFD': [{ x: '\uFFFD' }], ok: '\u{1F642}' },
    });
    // A high surrogate followed by another high one is still lone; the pair after it survives.
    expect(parseJsonText('"\\ud83d\\ud83d\\ude42"')).toEqual({ ok: true, value: '\uFFFD\u{1F642}' });
  });

  it('leaves text that only looks like a surrogate escape alone', () => {
    // An escaped backslash followed by "ud800" is six ordinary characters.
    expect(parseJsonText('"\\\\ud800"')).toEqual({ ok: true, value: '\\ud800' });
    expect(parseJsonText('["\\\\ud800", "\\ud800"]')).toEqual({ ok: true, value: ['\\ud800', '\uFFFD'] });
  });

  it('keeps a "__proto__" key as data when it repairs surrogates, as JSON.parse does without them', () => {
    const plain = parseJsonText('{"__proto__": {"x": 1}, "a": "b"}');
    const repaired = parseJsonText('{"__proto__": {"x": 1}, "a": "\\ud800"}');
    for (const r of [plain, repaired]) {
      if (!r.ok) throw new Error(r.reason);
      const v = r.value as Record<string, unknown>;
      expect(Object.hasOwn(v, '__proto__')).toBe(true);
      expect((v as { x?: unknown }).x).toBeUndefined();
    }
  });
});
