import { describe, expect, it } from 'vitest';
import { StringTable } from '../../../../pipeline/tokenize/bpe/strings.ts';

describe('StringTable', () => {
  it('finds every key with its value, misses others, and keeps the first of a repeated key', () => {
    const entries: Array<[string, number]> = [['▁the', 1], ['', 2], ['🙂', 3], ['a', 4], ['ab', 5], ['a', 9]];
    const t = StringTable.from(entries);
    for (const [k, v] of entries.slice(0, 5)) expect(t.get(k), k).toBe(v);
    expect(t.get('a')).toBe(4);
    for (const k of ['b', 'the', '▁', 'abc', '\ud83d']) expect(t.has(k), k).toBe(false);
  });

  it('holds a vocabulary-sized table on shared memory, readable after a structured clone', () => {
    const entries = Array.from({ length: 50_000 }, (_, i): [string, number] => [`tok${i.toString(36)}▁${i % 7}`, i]);
    const t = StringTable.from(entries);
    expect(t.data.units.buffer).toBeInstanceOf(SharedArrayBuffer);
    const copy = new StringTable(structuredClone(t.data));
    for (const [k, v] of entries) expect(copy.get(k)).toBe(v);
    // Shared, not copied: a write through one is seen through the other.
    copy.data.value[0] = -5;
    expect(t.get(entries[0][0])).toBe(-5);
  });

  it('finds a key given as code units, as get() finds the string', () => {
    const t = StringTable.from([['ab', 7], ['Ġthe', 9]]);
    const units = (s: string) => Uint16Array.from(s, (c) => c.charCodeAt(0));
    expect(t.getUnits(units('Ġthe'), 4)).toBe(9);
    expect(t.getUnits(units('abc'), 2)).toBe(7);
    expect(t.getUnits(units('abc'), 3)).toBeUndefined();
  });
});
