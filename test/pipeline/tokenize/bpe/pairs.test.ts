import { describe, expect, it } from 'vitest';
import { PairTable } from '../../../../pipeline/tokenize/bpe/pairs.ts';

describe('PairTable', () => {
  it('finds what was set, misses the rest, and keeps the last of a repeated pair', () => {
    const t = PairTable.create(3);
    t.set(1, 2, 0, 10);
    t.set(2, 1, 1, 11);
    t.set(1, 2, 5, 12);
    expect(t.find(3, 3)).toBe(-1);
    const s = t.find(1, 2);
    expect([t.rank(s), t.newId(s)]).toEqual([5, 12]);
    const r = t.find(2, 1);
    expect([t.rank(r), t.newId(r)]).toEqual([1, 11]);
  });

  it('holds many pairs with large ids', () => {
    const t = PairTable.create(5000);
    for (let i = 0; i < 5000; i++) t.set(i * 7919, 128_000 - i, i, i + 1);
    for (let i = 0; i < 5000; i++) expect(t.newId(t.find(i * 7919, 128_000 - i))).toBe(i + 1);
  });
});
