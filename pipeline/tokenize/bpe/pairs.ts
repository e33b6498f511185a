/**
 * The merge table: (left id, right id) → (rank, new id), open addressing over typed arrays. A
 * cache miss looks up every adjacent pair of a word, and a Map keyed by numbers above 2^30 (any
 * vocab over 32768) boxes each key.
 */
export class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rankOf: Int32Array;
  private readonly newIdOf: Int32Array;
  private readonly mask: number;

  constructor(capacityHint: number) {
    let cap = 16;
    while (cap < 2 * capacityHint) cap *= 2;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rankOf = new Int32Array(cap);
    this.newIdOf = new Int32Array(cap);
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
