/**
 * The merge table: (left id, right id) → (rank, new id), open addressing over one typed array on
 * shared memory, so every worker thread reads the one table the main thread built instead of a copy.
 * A cache miss looks up every adjacent pair of a word, and a Map keyed by numbers above 2^30 (any
 * vocab over 32768) would box each key. A slot's four numbers sit side by side: a lookup in a table
 * of megabytes costs one cache line, not four.
 */
import { sharedInt32 } from './shared.ts';

/** The table as data: what crosses to worker threads (shared, not copied). */
export interface PairTableData {
  /** Slot i is [left, right, rank, new id] at 4i; left = −1 for an empty slot. */
  slots: Int32Array;
}

export class PairTable {
  private readonly slots: Int32Array;
  private readonly mask: number;

  constructor(readonly data: PairTableData) {
    this.slots = data.slots;
    this.mask = (this.slots.length >> 2) - 1;
  }

  /** An empty table with room for `pairs` pairs. */
  static create(pairs: number): PairTable {
    let cap = 16;
    while (cap < 2 * pairs) cap *= 2;
    const slots = sharedInt32(4 * cap);
    slots.fill(-1);
    return new PairTable({ slots });
  }

  /** The offset of (a, b)'s slot, or of the empty slot where it would go. */
  private slot(a: number, b: number): number {
    const s = this.slots;
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) & this.mask;
    for (;;) {
      const o = i << 2;
      const l = s[o];
      if (l === -1 || (l === a && s[o + 1] === b)) return o;
      i = (i + 1) & this.mask;
    }
  }

  /** A repeated pair keeps the last rank and id given, as Rust's map of merges does. */
  set(a: number, b: number, rank: number, newId: number): void {
    const o = this.slot(a, b);
    this.slots[o] = a;
    this.slots[o + 1] = b;
    this.slots[o + 2] = rank;
    this.slots[o + 3] = newId;
  }

  /** The slot of (a, b), or -1 when no merge joins them. */
  find(a: number, b: number): number {
    const o = this.slot(a, b);
    return this.slots[o] === -1 ? -1 : o;
  }

  rank(slot: number): number {
    return this.slots[slot + 2];
  }

  newId(slot: number): number {
    return this.slots[slot + 3];
  }
}
