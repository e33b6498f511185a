import { describe, expect, it } from 'vitest';
import { expandBraces, hasGlob, pathMatcher, segmentRegExp } from '../../core/glob.ts';

describe('expandBraces', () => {
  it('expands nested groups and leaves comma-less groups alone', () => {
    expect(expandBraces('a{b,c{d,e}}f')).toEqual(['abf', 'acdf', 'acef']);
    expect(expandBraces('x{y}z')).toEqual(['x{y}z']);
    expect(expandBraces('{a,b}/{1,2}')).toEqual(['a/1', 'a/2', 'b/1', 'b/2']);
  });

  it('keeps empty alternatives, and an unclosed brace as literal text', () => {
    expect(expandBraces('a{,b}')).toEqual(['a', 'ab']);
    expect(expandBraces('a{b,c')).toEqual(['a{b,c']);
    expect(expandBraces('plain')).toEqual(['plain']);
  });
});

describe('hasGlob', () => {
  it('sees *, ? and {, and nothing else', () => {
    expect(['*.jsonl', 'a?', '{a,b}'].map(hasGlob)).toEqual([true, true, true]);
    expect(['data/x.jsonl', 'a[1]', 'a+b'].map(hasGlob)).toEqual([false, false, false]);
  });
});

describe('segmentRegExp', () => {
  it('* is any run and ? one character, within the segment', () => {
    const star = segmentRegExp('chunk_*.jsonl');
    expect(star.test('chunk_0.jsonl')).toBe(true);
    expect(star.test('chunk_.jsonl')).toBe(true);
    expect(star.test('chunk_0.json')).toBe(false);
    expect(star.test('a/chunk_0.jsonl')).toBe(false);
    const one = segmentRegExp('chunk_?.jsonl');
    expect(one.test('chunk_1.jsonl')).toBe(true);
    expect(one.test('chunk_10.jsonl')).toBe(false);
    expect(one.test('chunk_.jsonl')).toBe(false);
  });

  it('matches the whole name, with every other character literal', () => {
    const re = segmentRegExp('a+b(1)[x]^$|.json');
    expect(re.test('a+b(1)[x]^$|.json')).toBe(true);
    expect(re.test('aab(1)[x]^$|.json')).toBe(false);
    expect(re.test('a+b(1)[x]^$|xjson')).toBe(false);
    expect(segmentRegExp('x.jsonl').test('x.jsonl.zst')).toBe(false);
  });

  it('? takes one whole character, astral ones included', () => {
    expect(segmentRegExp('?.jsonl').test('\u{1F600}.jsonl')).toBe(true);
    expect(segmentRegExp('?.jsonl').test('\uFF21.jsonl')).toBe(true);
  });
});

describe('pathMatcher', () => {
  const matches = (glob: string, paths: string[]) => paths.filter(pathMatcher(glob));

  it('* and ? stay within one segment', () => {
    expect(matches('*.jsonl', ['a.jsonl', 'b.parquet', 'data/a.jsonl'])).toEqual(['a.jsonl']);
    expect(matches('data/*/x.jsonl', ['data/a/x.jsonl', 'data/x.jsonl', 'data/a/b/x.jsonl'])).toEqual(['data/a/x.jsonl']);
    expect(matches('train/part-?.parquet', ['train/part-0.parquet', 'train/part-10.parquet', 'train/part-/.parquet'])).toEqual([
      'train/part-0.parquet',
    ]);
  });

  it('** in the middle is zero or more whole directories', () => {
    expect(
      matches('data/**/x.jsonl', ['data/x.jsonl', 'data/a/x.jsonl', 'data/a/b/x.jsonl', 'other/x.jsonl', 'data/a/yx.jsonl', 'database/x.jsonl']),
    ).toEqual(['data/x.jsonl', 'data/a/x.jsonl', 'data/a/b/x.jsonl']);
  });

  it('** at the end is everything below', () => {
    expect(matches('data/**', ['data/a.jsonl', 'data/a/b/c.parquet', 'database/a.jsonl', 'a.jsonl'])).toEqual(['data/a.jsonl', 'data/a/b/c.parquet']);
    expect(matches('**', ['a', 'a/b/c'])).toEqual(['a', 'a/b/c']);
  });

  it('{a,b} takes either alternative, across segments too', () => {
    expect(matches('train/{a,b}.jsonl', ['train/a.jsonl', 'train/b.jsonl', 'train/c.jsonl', 'train/{a,b}.jsonl'])).toEqual([
      'train/a.jsonl',
      'train/b.jsonl',
    ]);
    expect(matches('{train,test/x}/*.parquet', ['train/0.parquet', 'test/x/0.parquet', 'test/0.parquet'])).toEqual([
      'train/0.parquet',
      'test/x/0.parquet',
    ]);
  });

  it('a plain path names that file, or a directory and everything under it', () => {
    expect(matches('data', ['data', 'data/x.jsonl', 'data/a/b.parquet', 'database/x.jsonl', 'data2', 'x/data'])).toEqual([
      'data',
      'data/x.jsonl',
      'data/a/b.parquet',
    ]);
    expect(matches('data/x.jsonl', ['data/x.jsonl', 'data/x.jsonl.zst', 'data/xxjsonl'])).toEqual(['data/x.jsonl']);
    // A trailing slash names the same directory.
    expect(matches('data/', ['data/x.jsonl', 'database'])).toEqual(['data/x.jsonl']);
  });

  it('skips dot-entries at any depth unless the pattern spells the dot', () => {
    const repo = ['.gitattributes', 'README.md', 'data/x.jsonl', 'data/.hidden/y.jsonl', '.cache/z.jsonl', 'data/.x.jsonl'];
    expect(matches('**', repo)).toEqual(['README.md', 'data/x.jsonl']);
    expect(matches('*', repo)).toEqual(['README.md']);
    expect(matches('data', repo)).toEqual(['data/x.jsonl']);
    expect(matches('data/**/*.jsonl', repo)).toEqual(['data/x.jsonl']);
    expect(matches('.gitattributes', repo)).toEqual(['.gitattributes']);
    expect(matches('.cache/*', repo)).toEqual(['.cache/z.jsonl']);
    expect(matches('data/.hidden/*', repo)).toEqual(['data/.hidden/y.jsonl']);
    expect(matches('data/.*', repo)).toEqual(['data/.x.jsonl']);
    // Decided per alternative after brace expansion, as for local globs.
    expect(matches('{.cache,data}/*', repo)).toEqual(['data/x.jsonl', '.cache/z.jsonl']);
  });

  it('? and * match whole code points, as segmentRegExp does for local files', () => {
    expect(pathMatcher('?.jsonl')('😀.jsonl')).toBe(true);
    expect(segmentRegExp('?.jsonl').test('😀.jsonl')).toBe(true);
  });
});
