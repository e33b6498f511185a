/**
 * The vocabulary, string → id, on shared memory (see shared.ts): every token's UTF-16 code units in
 * one array, found through an open-addressing table of hashes. Read only on cache misses, so a
 * lookup hashing its key is fine; what matters is that 16 threads do not hold 16 copies.
 */
import { sharedInt32, sharedUint16 } from './shared.ts';

export interface StringTableData {
  units: Uint16Array;
  /** slot → entry, or -1. */
  slots: Int32Array;
  start: Int32Array;
  length: Int32Array;
  value: Int32Array;
}

function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export class StringTable {
  private readonly d: StringTableData;
  private readonly mask: number;

  constructor(data: StringTableData) {
    this.d = data;
    this.mask = data.slots.length - 1;
  }

  get data(): StringTableData {
    return this.d;
  }

  /** Entries in insertion order; a repeated key keeps its first value, as the vocab Map did. */
  static from(entries: Iterable<[string, number]>): StringTable {
    const list = [...entries];
    let units = 0;
    for (const [k] of list) units += k.length;
    let cap = 16;
    while (cap < 2 * list.length) cap *= 2;
    const slots = sharedInt32(cap);
    slots.fill(-1);
    const t = new StringTable({ units: sharedUint16(units), slots, start: sharedInt32(list.length), length: sharedInt32(list.length), value: sharedInt32(list.length) });
    let at = 0;
    list.forEach(([k, v], e) => {
      const slot = t.slotOf(k);
      if (t.d.slots[slot] !== -1) return;
      for (let i = 0; i < k.length; i++) t.d.units[at + i] = k.charCodeAt(i);
      t.d.start[e] = at;
      t.d.length[e] = k.length;
      t.d.value[e] = v;
      t.d.slots[slot] = e;
      at += k.length;
    });
    return t;
  }

  get(key: string): number | undefined {
    const e = this.d.slots[this.slotOf(key)];
    return e === -1 ? undefined : this.d.value[e];
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private slotOf(key: string): number {
    const { slots, start, length, units } = this.d;
    let i = hash(key) & this.mask;
    for (;;) {
      const e = slots[i];
      if (e === -1) return i;
      if (length[e] === key.length) {
        const s = start[e];
        let k = 0;
        while (k < key.length && units[s + k] === key.charCodeAt(k)) k++;
        if (k === key.length) return i;
      }
      i = (i + 1) & this.mask;
    }
  }
}
