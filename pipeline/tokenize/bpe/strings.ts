/**
 * The vocabulary, string → id, on shared memory (see shared.ts): every token's UTF-16 code units in
 * one array, found through an open-addressing table of hashes. Read only on cache misses, so a
 * lookup hashing its key is fine; what matters is that 16 threads do not hold 16 copies.
 */
import { hashOf, hashUnits, sharedInt32, sharedUint16 } from './shared.ts';

export interface StringTableData {
  units: Uint16Array;
  /** slot → entry, or -1. */
  slots: Int32Array;
  start: Int32Array;
  length: Int32Array;
  value: Int32Array;
}

export class StringTable {
  private readonly mask: number;

  constructor(readonly data: StringTableData) {
    this.mask = data.slots.length - 1;
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
      if (t.data.slots[slot] !== -1) return;
      for (let i = 0; i < k.length; i++) t.data.units[at + i] = k.charCodeAt(i);
      t.data.start[e] = at;
      t.data.length[e] = k.length;
      t.data.value[e] = v;
      t.data.slots[slot] = e;
      at += k.length;
    });
    return t;
  }

  get(key: string): number | undefined {
    const e = this.data.slots[this.slotOf(key)];
    return e === -1 ? undefined : this.data.value[e];
  }

  /** The value of the key spelled by units[0, n), without making the string: a miss's whole-piece lookup. */
  getUnits(units: Uint16Array, n: number): number | undefined {
    const { slots, start, length, value } = this.data;
    const keys = this.data.units;
    for (let i = hashUnits(units, n) & this.mask; ; i = (i + 1) & this.mask) {
      const e = slots[i];
      if (e === -1) return undefined;
      if (length[e] !== n) continue;
      const s = start[e];
      let k = 0;
      while (k < n && keys[s + k] === units[k]) k++;
      if (k === n) return value[e];
    }
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private slotOf(key: string): number {
    const { slots, start, length, units } = this.data;
    let i = hashOf(key) & this.mask;
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
