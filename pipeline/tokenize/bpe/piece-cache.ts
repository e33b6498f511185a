/**
 * The bpe engine's piece cache: piece → ids, looked up by the piece's place in the text, so a hit
 * allocates nothing (no substring, no boxed value): keys, ids and the hash table are typed arrays
 * of fixed size. Two generations: pieces go into the young one; when it fills it becomes the old one
 * and an empty one takes its place; a piece found in the old one moves back. Frequent pieces so
 * survive what a text full of one-off pieces (LaTeX, code, URLs) would flush. What the cache holds
 * never changes an id. Covered by test/pipeline/tokenize/bpe/bpe-encoder.test.ts (tiny limits too).
 */
import { hashOf } from './shared.ts';

export interface CacheLimits {
  /** Pieces per generation. */
  entries: number;
  /** Ids of multi-token pieces per generation. */
  ids: number;
}

/** Pieces longer than this are not cached: long pieces rarely repeat (Rust's limit is the same). */
export const MAX_CACHED_CHARS = 256;

class Generation {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly hash: Int32Array;
  private readonly keyStart: Int32Array;
  private readonly keyLen: Int32Array;
  /** The id of a one-token piece, else −(offset + 1) of [length, ...ids] in `ids`. */
  private readonly value: Int32Array;
  private readonly keys: Uint16Array;
  readonly ids: Int32Array;
  private count = 0;
  private keysUsed = 0;
  private idsUsed = 0;

  constructor(private readonly limits: CacheLimits) {
    let cap = 16;
    while (cap < 2 * limits.entries) cap *= 2;
    this.slots = new Int32Array(cap).fill(-1);
    this.mask = cap - 1;
    this.hash = new Int32Array(limits.entries);
    this.keyStart = new Int32Array(limits.entries);
    this.keyLen = new Int32Array(limits.entries);
    this.value = new Int32Array(limits.entries);
    this.keys = new Uint16Array(limits.entries * 16);
    this.ids = new Int32Array(limits.ids);
  }

  /** The entry of text[start, end), or -1. */
  find(text: string, start: number, end: number, h: number): number {
    const len = end - start;
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const e = this.slots[i];
      if (e === -1) return -1;
      if (this.hash[e] !== h || this.keyLen[e] !== len) continue;
      const k = this.keyStart[e];
      let j = 0;
      while (j < len && this.keys[k + j] === text.charCodeAt(start + j)) j++;
      if (j === len) return e;
    }
  }

  roomFor(keyLen: number, ids: number): boolean {
    return this.count < this.limits.entries && this.keysUsed + keyLen <= this.keys.length && (ids === 1 || this.idsUsed + ids + 1 <= this.ids.length);
  }

  /** The caller has checked roomFor. Returns the new entry. */
  insert(text: string, start: number, end: number, h: number, ids: Int32Array, n: number): number {
    const e = this.count++;
    const len = end - start;
    for (let j = 0; j < len; j++) this.keys[this.keysUsed + j] = text.charCodeAt(start + j);
    this.hash[e] = h;
    this.keyStart[e] = this.keysUsed;
    this.keyLen[e] = len;
    this.keysUsed += len;
    if (n === 1) this.value[e] = ids[0];
    else {
      this.ids[this.idsUsed] = n;
      for (let j = 0; j < n; j++) this.ids[this.idsUsed + 1 + j] = ids[j];
      this.value[e] = -(this.idsUsed + 1);
      this.idsUsed += n + 1;
    }
    let i = h & this.mask;
    while (this.slots[i] !== -1) i = (i + 1) & this.mask;
    this.slots[i] = e;
    return e;
  }

  /** The entry's ids, copied into `out` at `at`; returns how many. */
  copy(e: number, out: Int32Array, at: number): number {
    const v = this.value[e];
    if (v >= 0) {
      out[at] = v;
      return 1;
    }
    const o = -v - 1;
    const n = this.ids[o];
    // A loop, not set(subarray()): most pieces hold a few ids, and a subarray is an allocation per hit.
    for (let j = 0; j < n; j++) out[at + j] = this.ids[o + 1 + j];
    return n;
  }

  idsOf(e: number): Int32Array {
    const v = this.value[e];
    if (v >= 0) return Int32Array.of(v);
    const o = -v - 1;
    return this.ids.slice(o + 1, o + 1 + this.ids[o]);
  }

  clear(): void {
    this.slots.fill(-1);
    this.count = 0;
    this.keysUsed = 0;
    this.idsUsed = 0;
  }
}

export class PieceCache {
  private young: Generation;
  private old: Generation;
  private lastHash = 0;

  constructor(limits: CacheLimits) {
    this.young = new Generation(limits);
    this.old = new Generation(limits);
  }

  /** A handle for copy() when text[start, end) is cached, else -1 (then insert() may follow). */
  find(text: string, start: number, end: number): number {
    if (end - start > MAX_CACHED_CHARS) return -1;
    const h = hashOf(text, start, end);
    this.lastHash = h;
    const e = this.young.find(text, start, end, h);
    if (e >= 0) return e;
    const o = this.old.find(text, start, end, h);
    if (o < 0) return -1;
    // Copied out before making room, which may empty the old generation.
    const ids = this.old.idsOf(o);
    return this.insertHashed(text, start, end, h, ids, ids.length);
  }

  /** Caches ids[0, n), the ids of the piece find() just missed; returns its handle, or -1 when too long to keep. */
  insert(text: string, start: number, end: number, ids: Int32Array, n: number): number {
    return this.insertHashed(text, start, end, this.lastHash, ids, n);
  }

  copy(handle: number, out: Int32Array, at: number): number {
    return this.young.copy(handle, out, at);
  }

  private insertHashed(text: string, start: number, end: number, h: number, ids: Int32Array, n: number): number {
    if (end - start > MAX_CACHED_CHARS) return -1;
    if (!this.young.roomFor(end - start, n)) {
      const spent = this.old;
      spent.clear();
      this.old = this.young;
      this.young = spent;
      if (!this.young.roomFor(end - start, n)) return -1;
    }
    return this.young.insert(text, start, end, h, ids, n);
  }
}
