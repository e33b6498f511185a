import { describe, expect, it } from 'vitest';
import { meapCommand, shellQuote } from '../../core/shell.ts';

describe('shellQuote', () => {
  it('leaves plain arguments alone and single-quotes the rest', () => {
    expect(['--out', 'a/b.c', 'hf://o/m@v1', 'x=1,2'].map(shellQuote)).toEqual(['--out', 'a/b.c', 'hf://o/m@v1', 'x=1,2']);
    expect(shellQuote('data/*.jsonl')).toBe("'data/*.jsonl'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('')).toBe("''");
  });
});

describe('meapCommand', () => {
  it('is run from where it was started when that is not here', () => {
    expect(meapCommand(['prepare', 'my data'])).toBe("meap prepare 'my data'");
    expect(meapCommand(['merge', 'out'], process.cwd())).toBe('meap merge out');
    expect(meapCommand(['merge', 'out'], '/some where')).toBe("cd '/some where' && meap merge out");
  });
});
