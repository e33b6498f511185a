import { Tokenizer as NativeTokenizer } from 'tokenizers';
import { describe, expect, it } from 'vitest';
import { buildJsTokenizer } from '../../../pipeline/tokenize/js.ts';
import { onigSource } from '../../../pipeline/tokenize/regex.ts';
import { useTokenizers } from './helpers.ts';

const { loaded } = useTokenizers();

describe('native and js engines agree', () => {
  it('gpt2: the JS pre-tokenizer classes every code point as Oniguruma does', () => {
    const json = loaded.gpt2.plainJson;
    const native = NativeTokenizer.fromString(json).getPreTokenizer()!;
    const js = buildJsTokenizer(json).pre_tokenizer!;
    // Sort every code point by the patched JS classes; each group must then be a single ByteLevel
    // piece (\p{L}+, \p{N}+, \s+ or [^\s\p{L}\p{N}]+) for both engines, so no code point is classed differently.
    const is = (cls: string) => new RegExp(onigSource(`^${cls}$`, 'u'), 'u');
    const [L, N, S] = [is('\\p{L}'), is('\\p{N}'), is('\\s')];
    const groups: Record<string, string[]> = { L: [], N: [], S: [], other: [] };
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCodePoint(cp);
      groups[L.test(c) ? 'L' : N.test(c) ? 'N' : S.test(c) ? 'S' : 'other'].push(c);
    }
    expect(groups.S.length).toBe(25);
    for (const [name, chars] of Object.entries(groups)) {
      const text = chars.join('');
      const n = native.preTokenizeString(text).map((p) => p[0]);
      const j = js(text) as string[];
      // On failure, name the first code point where the native engine splits.
      const first = n.length > 1 ? [...text.slice(native.preTokenizeString(text)[1][1][0])][0]?.codePointAt(0)?.toString(16) : undefined;
      expect({ name, pieces: n.length, first }).toEqual({ name, pieces: 1, first: undefined });
      expect(j).toEqual(n);
    }
  });

  it('rewrites \\s, \\S, \\p{L}, \\p{N} and leaves escaped backslashes', () => {
    const src = onigSource('\\\\s[\\\\s]\\s[^\\s]\\S[\\]\\S]', 'u');
    const re = new RegExp(src, 'u');
    expect(src.startsWith('\\\\s[\\\\s]')).toBe(true);
    expect(re.test('\\s\\\u0085\ufeff\ufeff]')).toBe(true);
    expect(new RegExp(onigSource('^\\s$', 'u'), 'u').test('\ufeff')).toBe(false);
    expect(new RegExp(onigSource('^\\s$', 'u'), 'u').test('\u0085')).toBe(true);
    expect(new RegExp(onigSource('^[\\S]$', 'u'), 'u').test('\u{1F642}')).toBe(true);
    expect(new RegExp(onigSource('^[^\\s\\p{L}]$', 'u'), 'u').test('\u{323b0}')).toBe(true);
    expect(new RegExp(onigSource('^\\p{L}$', 'u'), 'u').test('\u{323b0}')).toBe(false);
    expect(new RegExp(onigSource('^\\p{L}$', 'u'), 'u').test('é')).toBe(true);
    expect(new RegExp(onigSource('^\\s$', ''), '').test('\u3000')).toBe(true);
  });
});
