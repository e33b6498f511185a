import { describe, expect, it } from 'vitest';
import { isRecord } from '../../core/is-record.ts';

describe('isRecord', () => {
  it('takes plain and prototype-less objects, nothing else', () => {
    expect(isRecord({})).toBe(true);
    expect(isRecord(Object.create(null))).toBe(true);
    for (const v of [null, [], [{}], 'x', 0, false, undefined]) expect(isRecord(v), String(v)).toBe(false);
  });
});
