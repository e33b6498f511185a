/**
 * BPE merges over one word, the same algorithm as Rust `tokenizers` (models/bpe/word.rs, merge_all):
 * a heap of candidate pairs ordered by (rank, position), entries checked for staleness by the new id
 * only. Ties and stale entries resolve as there, so ids match even where two merges make one token.
 * O(n log n), so a word of millions of characters (text without spaces) stays fast.
 *
 * Short words, most of them, take tiktoken's loop instead: scan the adjacent pairs for the lowest
 * rank (the leftmost on a tie), merge, look up the two new pairs. It merges in the heap's order
 * exactly when the vocab gives distinct tokens distinct ids: the pair at a position only ever grows
 * (its left symbol absorbs its right, or its right absorbs the next), so its string, and with an
 * injective vocab its new id, always differs from that of a stale heap entry there; the heap then
 * pops the current pair of lowest (rank, position), which is what the scan finds.
 */
import type { PairTable } from './pairs.ts';

/** Words up to this many symbols take the linear merge: past a few dozen the heap wins. */
export const LINEAR_MAX = 32;

/** Scratch arrays reused across words; they grow to the longest word seen. */
export class MergeScratch {
  ids = new Int32Array(64);
  prev = new Int32Array(64);
  next = new Int32Array(64);
  heapRank = new Int32Array(192);
  heapPos = new Int32Array(192);
  heapNew = new Int32Array(192);
  heapSize = 0;
  /** The linear merge's rank and new id of the pair at i (ids[i], ids[i + 1]): a short word's, so never grown. */
  readonly pairRank = new Int32Array(LINEAR_MAX);
  readonly pairNew = new Int32Array(LINEAR_MAX);

  /** Room for `n` symbols (and the at most 3n heap entries their merges push). */
  reserve(n: number): void {
    if (this.ids.length >= n) return;
    const size = Math.max(n, this.ids.length * 2);
    const ids = new Int32Array(size);
    ids.set(this.ids);
    this.ids = ids;
    this.prev = new Int32Array(size);
    this.next = new Int32Array(size);
    this.heapRank = new Int32Array(3 * size);
    this.heapPos = new Int32Array(3 * size);
    this.heapNew = new Int32Array(3 * size);
  }
}

function less(s: MergeScratch, i: number, j: number): boolean {
  const ri = s.heapRank[i];
  const rj = s.heapRank[j];
  return ri < rj || (ri === rj && s.heapPos[i] < s.heapPos[j]);
}

function swap(s: MergeScratch, i: number, j: number): void {
  const { heapRank, heapPos, heapNew } = s;
  let t = heapRank[i];
  heapRank[i] = heapRank[j];
  heapRank[j] = t;
  t = heapPos[i];
  heapPos[i] = heapPos[j];
  heapPos[j] = t;
  t = heapNew[i];
  heapNew[i] = heapNew[j];
  heapNew[j] = t;
}

function push(s: MergeScratch, pos: number, pairs: PairTable, slot: number): void {
  let i = s.heapSize++;
  s.heapRank[i] = pairs.rank(slot);
  s.heapNew[i] = pairs.newId(slot);
  s.heapPos[i] = pos;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (!less(s, i, p)) break;
    swap(s, i, p);
    i = p;
  }
}

function pop(s: MergeScratch): void {
  const size = --s.heapSize;
  if (size === 0) return;
  swap(s, 0, size);
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    const c = l + 1 < size && less(s, l + 1, l) ? l + 1 : l;
    if (!less(s, c, i)) break;
    swap(s, c, i);
    i = c;
  }
}

const NONE = 0x7fffffff;

/**
 * Merges the `n` symbols in `s.ids` in place; returns how many survive, in order at the front of
 * `s.ids`. `linear`: the vocab is injective (see above), so short words may take the linear merge.
 */
export function mergeWord(s: MergeScratch, n: number, pairs: PairTable, linear: boolean): number {
  return linear && n <= LINEAR_MAX ? mergeLinear(s, n, pairs) : mergeHeap(s, n, pairs);
}

function setPair(s: MergeScratch, i: number, pairs: PairTable): void {
  const slot = pairs.find(s.ids[i], s.ids[i + 1]);
  if (slot < 0) s.pairRank[i] = NONE;
  else {
    s.pairRank[i] = pairs.rank(slot);
    s.pairNew[i] = pairs.newId(slot);
  }
}

function mergeLinear(s: MergeScratch, n: number, pairs: PairTable): number {
  const { ids, pairRank, pairNew } = s;
  for (let i = 0; i + 1 < n; i++) setPair(s, i, pairs);
  let len = n;
  while (len > 1) {
    let best = 0;
    let bestRank = pairRank[0];
    for (let i = 1; i + 1 < len; i++) {
      if (pairRank[i] < bestRank) {
        bestRank = pairRank[i];
        best = i;
      }
    }
    if (bestRank === NONE) break;
    ids[best] = pairNew[best];
    len--;
    for (let i = best + 1; i < len; i++) {
      ids[i] = ids[i + 1];
      pairRank[i] = pairRank[i + 1];
      pairNew[i] = pairNew[i + 1];
    }
    if (best + 1 < len) setPair(s, best, pairs);
    if (best > 0) setPair(s, best - 1, pairs);
  }
  return len;
}

function mergeHeap(s: MergeScratch, n: number, pairs: PairTable): number {
  if (n === 0) return 0;
  const { ids, prev, next } = s;
  s.heapSize = 0;
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  for (let i = 0; i + 1 < n; i++) {
    const slot = pairs.find(ids[i], ids[i + 1]);
    if (slot >= 0) push(s, i, pairs, slot);
  }
  // A removed symbol gets prev = -2.
  while (s.heapSize > 0) {
    const pos = s.heapPos[0];
    const newId = s.heapNew[0];
    pop(s);
    if (prev[pos] === -2) continue;
    const right = next[pos];
    if (right === -1) continue;
    const current = pairs.find(ids[pos], ids[right]);
    if (current < 0 || pairs.newId(current) !== newId) continue;
    ids[pos] = newId;
    const after = next[right];
    next[pos] = after;
    prev[right] = -2;
    if (after !== -1) prev[after] = pos;
    const before = prev[pos];
    if (before >= 0) {
      const slot = pairs.find(ids[before], newId);
      if (slot >= 0) push(s, before, pairs, slot);
    }
    if (after !== -1) {
      const slot = pairs.find(newId, ids[after]);
      if (slot >= 0) push(s, pos, pairs, slot);
    }
  }
  // Survivors to the front; the k-th survivor sits at or after k.
  let count = 0;
  for (let i = 0; i !== -1; i = next[i]) ids[count++] = ids[i];
  return count;
}
