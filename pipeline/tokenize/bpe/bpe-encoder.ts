/**
 * The `bpe` engine's encoder: text → exact pieces (see bpe-model.ts) → ids, with each piece's ids cached
 * (piece-cache.ts). Documents repeat their words, so most pieces are cache hits: a hash of the piece's
 * characters, a compare and a copy.
 */
import { wellFormed } from '../ids.ts';
import { SPIECE, type BpeModel } from './bpe-model.ts';
import { MergeScratch, mergeWord } from './word-merges.ts';
import { PairTable } from './pairs.ts';
import { MAX_CACHED_CHARS, PieceCache } from './piece-cache.ts';
import { SplitScanner } from './split-scan.ts';
import { StringTable } from './strings.ts';

const SPIECE_CODE = 0x2581;

export interface BpeLimits {
  /** Cached pieces at most, per cache generation (see piece-cache.ts). */
  cacheEntries: number;
  /** Ids held by cached multi-token pieces at most, per generation. */
  cacheIds: number;
}

/** Scratch buffers grown past this many entries are dropped after the call. */
const KEEP = 1 << 20;

/**
 * The piece cache of one encoder among `threads` that run at once: they share a budget of 2^19 pieces
 * a generation, each keeping between 2^15 and 2^18. A cache that holds more of a corpus's long tail
 * misses less: on bench/cold-corpus.ts's corpus, 2^18 against 2^16 made `prepare` 18% faster at
 * --workers 1 and at --workers 2 (8.4 against 10.2 s, 5.1 against 6.2 s). A generation of 2^18 pieces
 * takes up to 22 MB, touched as it fills; 8 threads keep 2^16 each (5.5 MB), as all did before, and
 * 16 threads 2^15, which brought their peak RSS on that corpus from 1,019 MB back under 1 GB.
 */
export function cacheLimits(threads: number): BpeLimits {
  let shares = 1;
  while (shares < threads) shares *= 2;
  const entries = Math.max(1 << 15, Math.min(1 << 18, (1 << 19) / shares));
  // Ids of multi-token pieces: 8 a piece, the proportion no fixture has filled.
  return { cacheEntries: entries, cacheIds: 8 * entries };
}

export class BpeEncoder {
  private readonly cache: PieceCache;
  /** Code point → id of that one character in the vocab, or −1: read once per character, not per miss. */
  private readonly charIds = new Map<number, number>();
  private readonly utf8Bytes = new Uint8Array(4);
  private out = new Int32Array(1 << 16);
  private outLen = 0;
  private scratch = new MergeScratch();
  private bytes = new Uint8Array(1024);
  /** A piece's byte-level string as code units, for ignore_merges' whole-piece lookup. */
  private units = new Uint16Array(1024);
  /** Byte → its byte-level character, one code unit each (model.ts's byteLevelChars). */
  private readonly byteUnits: Uint16Array | null;
  private readonly spieceId: number;
  private readonly vocab: StringTable;
  private readonly merges: PairTable;
  private readonly split: RegExp | null;
  /** The same regex anchored at lastIndex: test() builds no match array, and most text is one match after another. */
  private readonly splitAt: RegExp | null;
  /** The split without a regex, where the model's is one split-scan.ts knows. */
  private readonly scanner: SplitScanner | null;

  constructor(
    private readonly model: BpeModel,
    limits: BpeLimits = cacheLimits(1),
  ) {
    this.vocab = new StringTable(model.vocab);
    this.merges = new PairTable(model.merges);
    this.byteUnits = model.byteChars === null ? null : Uint16Array.from(model.byteChars, (c) => c.charCodeAt(0));
    this.split = model.split === null ? null : new RegExp(model.split, 'gu');
    this.splitAt = model.split === null ? null : new RegExp(model.split, 'yu');
    this.scanner = model.split === null ? null : SplitScanner.of(model.split);
    this.spieceId = this.vocab.get(SPIECE) ?? -1;
    this.cache = new PieceCache({ entries: limits.cacheEntries, ids: limits.cacheIds });
  }

  /** One text's ids. */
  encode(text: string): Int32Array {
    this.outLen = 0;
    this.encodeInto(text);
    return this.result();
  }

  /** Several texts' ids in one transferable buffer: [n, len_1..len_n, ids...] (ids.ts's packIds layout). */
  encodeMany(texts: readonly string[]): Int32Array {
    const n = texts.length;
    this.outLen = 0;
    this.reserve(1 + n);
    this.out[0] = n;
    this.outLen = 1 + n;
    for (let i = 0; i < n; i++) {
      const before = this.outLen;
      this.encodeInto(texts[i]);
      this.out[1 + i] = this.outLen - before;
    }
    return this.result();
  }

  private encodeInto(raw: string): void {
    const text = wellFormed(raw);
    if (text.length === 0) return;
    if (this.model.kind === 'sentencepiece') this.sentencePiece(text);
    else this.byteLevel(text);
  }

  /** Pieces of "▁" + text with spaces as "▁": cut before each "▁" that follows something else. */
  private sentencePiece(text: string): void {
    if (this.model.ignoreMerges) {
      const whole = this.vocab.get(SPIECE + text.replaceAll(' ', SPIECE));
      if (whole !== undefined) return this.emit(whole);
    }
    let start = 0;
    let prevSpace = true; // the prepended "▁"
    const len = text.length;
    for (let i = 0; i < len; i++) {
      const c = text.charCodeAt(i);
      const space = c === 32 || c === SPIECE_CODE;
      if (space && !prevSpace) {
        if (start === 0) this.prefixed(text, i);
        else this.piece(text, start, i);
        start = i;
      }
      prevSpace = space;
    }
    if (start === 0) this.prefixed(text, len);
    else this.piece(text, start, len);
  }

  private byteLevel(text: string): void {
    const len = text.length;
    const scanner = this.scanner;
    if (scanner !== null) {
      for (let i = 0; i < len; ) {
        const end = scanner.end(text, i);
        this.piece(text, i, end);
        i = end;
      }
      return;
    }
    const at = this.splitAt!;
    let last = 0;
    while (last < len) {
      at.lastIndex = last;
      if (at.test(text) && at.lastIndex > last) {
        this.piece(text, last, at.lastIndex);
        last = at.lastIndex;
        continue;
      }
      // No non-empty match here: the unanchored regex finds the next one, and the text before it is a piece.
      const re = this.split!;
      re.lastIndex = last;
      let m = re.exec(text);
      while (m !== null && m[0].length === 0) {
        re.lastIndex += text.codePointAt(re.lastIndex)! > 0xffff ? 2 : 1;
        m = re.exec(text);
      }
      if (m === null) {
        this.piece(text, last, len);
        return;
      }
      if (m.index > last) this.piece(text, last, m.index);
      this.piece(text, m.index, re.lastIndex);
      last = re.lastIndex;
    }
  }

  /** The text's first piece, which carries the prepended "▁". */
  private prefixed(text: string, end: number): void {
    const p = SPIECE + text.slice(0, end);
    this.piece(p, 0, p.length);
  }

  private piece(text: string, start: number, end: number): void {
    const cache = this.cache;
    const hit = cache.find(text, start, end);
    if (hit >= 0) {
      this.reserve(this.outLen + MAX_CACHED_CHARS * 4);
      this.outLen += cache.copy(hit, this.out, this.outLen);
      return;
    }
    const n = this.model.kind === 'sentencepiece' ? this.sentencePieceIds(text.slice(start, end)) : this.byteLevelIds(text, start, end);
    const ids = this.scratch.ids;
    cache.insert(text, start, end, ids, n);
    this.reserve(this.outLen + n);
    for (let j = 0; j < n; j++) this.out[this.outLen + j] = ids[j];
    this.outLen += n;
  }

  private charId(cp: number): number {
    let id = this.charIds.get(cp);
    if (id === undefined) {
      id = cp === 32 ? this.spieceId : (this.vocab.get(String.fromCodePoint(cp)) ?? -1);
      this.charIds.set(cp, id);
    }
    return id;
  }

  /** The code point's UTF-8 bytes into utf8Bytes; returns how many. */
  private utf8(cp: number): number {
    const b = this.utf8Bytes;
    if (cp < 0x80) {
      b[0] = cp;
      return 1;
    }
    if (cp < 0x800) {
      b[0] = 0xc0 | (cp >> 6);
      b[1] = 0x80 | (cp & 63);
      return 2;
    }
    if (cp < 0x10000) {
      b[0] = 0xe0 | (cp >> 12);
      b[1] = 0x80 | ((cp >> 6) & 63);
      b[2] = 0x80 | (cp & 63);
      return 3;
    }
    b[0] = 0xf0 | (cp >> 18);
    b[1] = 0x80 | ((cp >> 12) & 63);
    b[2] = 0x80 | ((cp >> 6) & 63);
    b[3] = 0x80 | (cp & 63);
    return 4;
  }

  /** Initial symbols as Rust's merge_word makes them: chars, else their bytes, else (fused) unk; merged into scratch.ids, returns how many. */
  private sentencePieceIds(p: string): number {
    const { byteFallback, unkId, fuseUnk } = this.model;
    const s = this.scratch;
    s.reserve(4 * p.length);
    let n = 0;
    let unk = false;
    for (let i = 0; i < p.length; i++) {
      const cp = p.codePointAt(i)!;
      if (cp > 0xffff) i++;
      const id = this.charId(cp);
      if (id >= 0) {
        if (unk) s.ids[n++] = unkId!;
        unk = false;
        s.ids[n++] = id;
        continue;
      }
      if (byteFallback !== null) {
        const len = this.utf8(cp);
        let all = true;
        for (let k = 0; k < len; k++) all &&= byteFallback[this.utf8Bytes[k]] >= 0;
        if (all) {
          // As in Rust, a pending unk is not flushed before byte tokens.
          for (let k = 0; k < len; k++) s.ids[n++] = byteFallback[this.utf8Bytes[k]];
          continue;
        }
      }
      if (unkId === null) throw new Error(`no token for U+${cp.toString(16)} and no unk token`);
      if (unk && !fuseUnk) s.ids[n++] = unkId;
      unk = true;
    }
    if (unk) s.ids[n++] = unkId!;
    return mergeWord(s, n, this.merges, this.model.injective);
  }

  /** text[start, end)'s UTF-8 bytes as byte-level ids, merged into scratch.ids; returns how many. */
  private byteLevelIds(text: string, start: number, end: number): number {
    const { byteIds, ignoreMerges } = this.model;
    if (this.bytes.length < 3 * (end - start)) this.bytes = new Uint8Array(3 * (end - start));
    const bytes = this.bytes;
    const b = this.utf8Bytes;
    let n = 0;
    // Encoded here, not by a TextEncoder: most pieces are a few ASCII characters, and a call out
    // of JavaScript costs more than they do. The text is well-formed (wellFormed in encodeInto).
    for (let i = start; i < end; i++) {
      let cp = text.charCodeAt(i);
      if (cp < 0x80) {
        bytes[n++] = cp;
        continue;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) cp = 0x10000 + ((cp - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
      const len = this.utf8(cp);
      for (let k = 0; k < len; k++) bytes[n++] = b[k];
    }
    const s = this.scratch;
    if (ignoreMerges) {
      if (this.units.length < n) this.units = new Uint16Array(n);
      for (let i = 0; i < n; i++) this.units[i] = this.byteUnits![bytes[i]];
      const whole = this.vocab.getUnits(this.units, n);
      if (whole !== undefined) {
        s.ids[0] = whole;
        return 1;
      }
    }
    s.reserve(n);
    for (let i = 0; i < n; i++) s.ids[i] = byteIds![bytes[i]];
    return mergeWord(s, n, this.merges, this.model.injective);
  }

  private emit(id: number): void {
    if (this.outLen === this.out.length) this.reserve(this.outLen + 1);
    this.out[this.outLen++] = id;
  }

  private result(): Int32Array {
    const ids = this.out.slice(0, this.outLen);
    // One huge document or piece must not leave its buffers to the thread for the rest of the run.
    if (this.out.length > KEEP) this.out = new Int32Array(1 << 16);
    if (this.scratch.ids.length > KEEP) this.scratch = new MergeScratch();
    if (this.bytes.length > KEEP) this.bytes = new Uint8Array(1024);
    if (this.units.length > KEEP) this.units = new Uint16Array(1024);
    return ids;
  }

  private reserve(n: number): void {
    if (n <= this.out.length) return;
    const grown = new Int32Array(Math.max(n, this.out.length * 2));
    grown.set(this.out.subarray(0, this.outLen));
    this.out = grown;
  }
}
