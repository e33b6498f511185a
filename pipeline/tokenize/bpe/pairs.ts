/**
 * The merge table: (left id, right id) → (rank, new id), open addressing over typed arrays on shared
 * memory, so every worker thread reads the one table the main thread built instead of a copy. A
 * cache miss looks up every adjacent pair of a word, and a Map keyed by numbers above 2^30 (any
 * vocab over 32768) would box each key.
 */
import { sharedInt32 } from './shared.ts';

/** The table as data: what crosses to worker threads (shared, not copied). */
export interface PairTableData {
  left: Int32Array;
  right: Int32Array;
  rank: Int32Array;
  newId: Int32Array;
}

export class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rankOf: Int32Array;
  private readonly newIdOf: Int32Array;
  private readonly mask: number;

  constructor(readonly data: PairTableData) {
    ({ left: this.left, right: this.right, rank: this.rankOf, newId: this.newIdOf } = data);
    this.mask = this.left.length - 1;
  }

  /** An empty table with room for `pairs` pairs. */
  static create(pairs: number): PairTable {
    let cap = 16;
    while (cap < 2 * pairs) cap *= 2;
    const left = sharedInt32(cap);
    left.fill(-1);
    return new PairTable({ left, right: sharedInt32(cap), rank: sharedInt32(cap), newId: sharedInt32(cap) });
  }

  private slot(a: number, b: number): number {
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  /** A repeated pair keeps the last rank and id given, as Rust's map of merges does. */
  set(a: number, b: number, rank: number, newId: number): void {
    const i = this.slot(a, b);
    this.left[i] = a;
    this.right[i] = b;
    this.rankOf[i] = rank;
    this.newIdOf[i] = newId;
  }

  /** The slot of (a, b), or -1 when no merge joins them. */
  find(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.left[i] === -1 ? -1 : i;
  }

  rank(slot: number): number {
    return this.rankOf[slot];
  }

  newId(slot: number): number {
    return this.newIdOf[slot];
  }
}
