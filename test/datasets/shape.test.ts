import { describe as group, expect, it } from 'vitest';
import { InputError } from '../../core/errors.ts';
import { asRecord, describe, field, overLimit, tooLong } from '../../datasets/shape.ts';

const where = { file: 'a.jsonl', line: 3 };

group('describe', () => {
  it('names what a JSON value is, with its article', () => {
    expect([null, [], 'x', {}, 1, true].map(describe)).toEqual(['null', 'an array', 'a string', 'an object', 'a number', 'a boolean']);
  });
});

group('asRecord', () => {
  it('returns the record itself, or a notAnObject error at the record', () => {
    const r = { text: 'x' };
    expect(asRecord(r, where)).toBe(r);
    const err = asRecord([r], where);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ reason: 'notAnObject', where, message: 'a.jsonl:3: record is an array, not a JSON object' });
  });
});

group('tooLong', () => {
  it('is undefined up to the limit and the length past it', () => {
    expect(tooLong('abcde', 5)).toBeUndefined();
    expect(tooLong('abcde', 4)).toBe(5);
    expect(tooLong('', 0)).toBeUndefined();
  });

  it('counts code points, not UTF-16 units', () => {
    const emoji = '\u{1F642}'.repeat(3); // 6 UTF-16 units
    expect(emoji.length).toBe(6);
    expect(tooLong(emoji, 3)).toBeUndefined();
    expect(tooLong(emoji, 2)).toBe(3);
    expect(tooLong(`a${emoji}b`, 4)).toBe(5);
  });

  it('counts each lone or out-of-order surrogate as one', () => {
    expect(tooLong('\udc00\ud800', 1)).toBe(2);
    expect(tooLong('\ud800\ud800\udc00', 1)).toBe(2);
    expect(tooLong('\udc00x', 1)).toBe(2);
  });
});

group('overLimit', () => {
  it('is a tooLong InputError with the hint when the text is over the limit', () => {
    const err = overLimit('field "output"', 'é'.repeat(6), 5, where);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ reason: 'tooLong', where, hint: 'raise --max-doc-chars, or pass --on-error skip to leave such records out' });
    expect(err!.message).toBe(
      'a.jsonl:3: field "output" has 6 characters, more than the limit of 5 (raise --max-doc-chars, or pass --on-error skip to leave such records out)',
    );
  });

  it('is undefined within the limit, or with no limit', () => {
    expect(overLimit('text', 'abc', 3, where)).toBeUndefined();
    expect(overLimit('text', 'x'.repeat(100_000), undefined, where)).toBeUndefined();
  });
});

group('field', () => {
  it('reads own properties', () => {
    expect(field({ text: 'x', n: null }, 'text')).toBe('x');
    expect(field({ text: 'x', n: null }, 'n')).toBeNull();
    expect(field({ text: 'x' }, 'missing')).toBeUndefined();
  });

  it('never reads the prototype', () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) expect(field({}, name), name).toBeUndefined();
    expect(field(Object.create({ text: 'inherited' }), 'text')).toBeUndefined();
  });

  it('reads a "__proto__" or "constructor" key when the record has one of its own', () => {
    // JSON.parse defines "__proto__" as an own key, unlike an object literal, which sets the prototype.
    const record = JSON.parse('{"__proto__": {"text": "via proto"}, "constructor": "c"}') as Record<string, unknown>;
    expect(field(record, '__proto__')).toEqual({ text: 'via proto' });
    expect(field(record, 'constructor')).toBe('c');
    expect(field(record, 'text')).toBeUndefined();
    expect(field(record, 'toString')).toBeUndefined();
  });
});
