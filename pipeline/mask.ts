/**
 * MEAP masking: which input positions of a packed row become [MASK]. Pure functions of
 * (eligible positions, spec, rng stream); the README's mask specification is the normative description and
 * docs/mask_reference.py must stay bit-for-bit equal to this file.
 */
import { Rng } from '../core/rng.ts';
import { maskTakes, type MaskStrategy } from '../schemas/enums.ts';

export interface MaskSpec {
  strategy: MaskStrategy;
  /** Fraction of eligible positions to mask, 0 <= ratio <= 1. */
  ratio: number;
  /** Span length L >= 1 where the strategy takes one (schemas/enums.ts), ignored otherwise. */
  spanLength: number | null;
  maskTokenId: number;
}

/** The settings that decide how much of a row is masked. */
export type MaskSettings = Pick<MaskSpec, 'strategy' | 'ratio' | 'spanLength'>;

interface Strategy {
  /** Masked positions, ascending, of a row whose eligible positions are marked; `rng` gives the row's stream. */
  positions(eligible: Uint8Array, spec: MaskSpec, rng: () => Rng): Int32Array;
  /** The share of one unbroken run of `e` > 0 eligible positions that gets masked. */
  segmentShare(settings: MaskSettings, e: number): number;
}

/**
 * Every strategy's sampler, by the names (and options) of schemas/enums.ts: a record over them, so
 * a name without a sampler, or a sampler without a name, does not compile. Each is the section of
 * the README's mask specification that bears its name.
 */
const STRATEGIES: Record<MaskStrategy, Strategy> = {
  random: {
    positions: (eligible, spec, rng) => randomPositions(eligible, spec.ratio, rng()),
    segmentShare: (settings, e) => positionsWanted(settings.ratio, e) / e,
  },
  span: {
    positions: (eligible, spec, rng) => spanPositions(eligible, spec.ratio, spanLengthOf(spec), rng()),
    segmentShare: (settings, e) => (spansInOneSegment(settings.ratio, e, spanLengthOf(settings)) * spanLengthOf(settings)) / e,
  },
  // Draws nothing, so its rows never derive a stream: unmasked runs do not pay for hashing.
  none: { positions: () => EMPTY, segmentShare: () => 0 },
  // A duplicated answer always gets at least one [MASK].
  'sft-duplicate': {
    positions: (eligible, spec, rng) => randomPositions(eligible, spec.ratio, rng(), 1),
    segmentShare: (settings, e) => positionsWanted(settings.ratio, e, 1) / e,
  },
};

/**
 * Barrier-free rejection tries before the exact DP takes over. Part of the spec: it fixes how
 * many rng draws are consumed before the fallback starts, so changing it changes masks.
 */
export const SPAN_REJECTION_TRIES = 64;

const EMPTY = new Int32Array(0);

/** The spec's strategy, once its ratio and (where it takes one) its span length are in range. */
function strategyOf(spec: MaskSpec): Strategy {
  if (!(spec.ratio >= 0 && spec.ratio <= 1)) {
    throw new RangeError(`mask ratio must be in [0, 1], got ${spec.ratio}`);
  }
  if (!Object.hasOwn(STRATEGIES, spec.strategy)) throw new RangeError(`unknown mask strategy ${JSON.stringify(spec.strategy)}`);
  if (maskTakes(spec.strategy, 'spanLength')) {
    const L = spec.spanLength;
    if (L === null || !Number.isSafeInteger(L) || L < 1) {
      throw new RangeError(`span masking needs an integer spanLength >= 1, got ${L}`);
    }
  }
  return STRATEGIES[spec.strategy];
}

/** The span length of settings whose strategy takes one, checked by strategyOf or the prepare schema. */
const spanLengthOf = (settings: MaskSettings) => settings.spanLength as number;

/** eligible[i] = 1 where position i may be masked. Returns masked positions ascending. */
export function maskPositions(eligible: Uint8Array, spec: MaskSpec, rng: Rng): Int32Array {
  return strategyOf(spec).positions(eligible, spec, () => rng);
}

export function maskRow(
  tokens: Int32Array,
  eligible: Uint8Array,
  spec: MaskSpec,
  seed: number,
  fileSha256Hex: string,
  rowIndex: number,
): { inputIds: Int32Array; masked: number } {
  if (eligible.length !== tokens.length) {
    throw new RangeError(`eligible has ${eligible.length} entries for ${tokens.length} tokens`);
  }
  const inputIds = tokens.slice();
  // The stream is derived only by a strategy that draws from it.
  const positions = strategyOf(spec).positions(eligible, spec, () => Rng.forRow(seed, fileSha256Hex, rowIndex));
  for (let i = 0; i < positions.length; i++) inputIds[positions[i]] = spec.maskTokenId;
  return { inputIds, masked: positions.length };
}

/**
 * Eligible positions of a full row inside one document: all but the last (pack.ts), none of them
 * special. The best case of a pretrain row, so a span that does not fit it fits no row.
 */
export const fullRowEligible = (seqLen: number) => seqLen - 1;

/** Spans a row gets from one segment of `e` eligible positions: the spec's count, capped by what fits. */
const spansInOneSegment = (ratio: number, e: number, L: number) => Math.min(spansWanted(ratio, e, L), Math.floor(e / L));

/**
 * The share of its eligible positions that a full row of `seqLen` tokens gets masked under these
 * settings: what a run of long documents masks. Below `ratio` where the floors of the spec bite
 * (short rows, long spans); rows of many short documents get less than this under `span`.
 */
export const fullRowMaskedShare = (settings: MaskSettings, seqLen: number) => segmentMaskedShare(settings, fullRowEligible(seqLen));

/**
 * The share of one unbroken run of `e` eligible positions that gets masked: a full pretrain row's, or
 * (`sft-duplicate`) a duplicated answer's of `e` tokens.
 */
export function segmentMaskedShare(settings: MaskSettings, e: number): number {
  return e <= 0 ? 0 : STRATEGIES[settings.strategy].segmentShare(settings, e);
}

/**
 * The smallest seqLen whose full row gets at least one span of `L` at `ratio`, by the spec's own
 * double arithmetic; null when no safe integer does (ratio 0, or one too small).
 */
export function smallestSeqLenForSpan(ratio: number, L: number): number | null {
  const fits = (e: number) => spansInOneSegment(ratio, e, L) >= 1;
  // (ratio * E) / L >= 1 near E = L / ratio; rounding can move the edge by a step either way.
  let e = Math.ceil(L / ratio);
  if (!Number.isSafeInteger(e + 1)) return null;
  while (e > 1 && fits(e - 1)) e--;
  while (!fits(e)) e++;
  return e + 1;
}

/** The longest span of which a full row of `seqLen` tokens gets at least one at `ratio`; 0 when none. */
export function longestSpanForSeqLen(ratio: number, seqLen: number): number {
  const e = fullRowEligible(seqLen);
  const fits = (L: number) => spansInOneSegment(ratio, e, L) >= 1;
  let L = Math.floor(ratio * e);
  while (fits(L + 1)) L++;
  while (L >= 1 && !fits(L)) L--;
  return Math.max(0, L);
}

/**
 * k values of [0, s), uniform without replacement, ascending: partial Fisher–Yates over the
 * identity array (swap a[i] with a[i + below(s - i)] for i < k). Shared by every strategy so
 * that the spec has a single sampling primitive.
 *
 * `scratch` (length >= s, holding the identity on [0, s)) lets repeated calls skip the O(s)
 * set-up: the swaps are undone afterwards, so it holds the identity again on return.
 */
function chooseSorted(s: number, k: number, rng: Rng, scratch?: Int32Array): Int32Array {
  if (k === 0) return EMPTY;
  const a = scratch ?? identity(s);
  const js = new Int32Array(k);
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(s - i);
    js[i] = j;
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  const out = a.slice(0, k).sort();
  if (scratch) {
    for (let i = k - 1; i >= 0; i--) {
      const j = js[i];
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
  return out;
}

function identity(s: number): Int32Array {
  const a = new Int32Array(s);
  for (let i = 0; i < s; i++) a[i] = i;
  return a;
}

/**
 * Positions that `random` (and, with `atLeast` 1, `sft-duplicate`) masks among `e` eligible ones.
 * The one float operation of the spec: an IEEE-754 double product, then floor.
 */
function positionsWanted(ratio: number, e: number, atLeast = 0): number {
  return Math.min(e, Math.max(atLeast, Math.floor(ratio * e)));
}

/**
 * Spans that `span` asks for among `e` eligible positions, before the row's capacity caps them.
 * Evaluated left to right as doubles, (ratio * E) / L, so every implementation floors the same value.
 */
function spansWanted(ratio: number, e: number, L: number): number {
  return Math.floor((ratio * e) / L);
}

/** `atLeast` 1 is the SFT rule: a duplicated answer always gets at least one [MASK]. */
function randomPositions(eligible: Uint8Array, ratio: number, rng: Rng, atLeast = 0): Int32Array {
  let e = 0;
  for (let i = 0; i < eligible.length; i++) if (eligible[i] !== 0) e++;
  const k = positionsWanted(ratio, e, atLeast);
  if (k === 0) return EMPTY;
  // Fisher–Yates directly on the ascending eligible positions: the same draws and result as
  // chooseSorted(e, k) mapped through the list, without the index indirection.
  const a = new Int32Array(e);
  for (let i = 0, o = 0; i < eligible.length; i++) if (eligible[i] !== 0) a[o++] = i;
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(e - i);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  // Sorting by marking and rescanning the row is O(T) and beats a comparison sort here.
  const mark = new Uint8Array(eligible.length);
  for (let i = 0; i < k; i++) mark[a[i]] = 1;
  const out = new Int32Array(k);
  for (let i = 0, o = 0; o < k; i++) if (mark[i] !== 0) out[o++] = i;
  return out;
}

interface Segments {
  /** Start position and length of every eligible run of length >= L, in row order. */
  starts: number[];
  lens: number[];
  /** All eligible positions, including those in runs too short for a span. */
  eligibleCount: number;
}

function segmentsOf(eligible: Uint8Array, L: number): Segments {
  const starts: number[] = [];
  const lens: number[] = [];
  let eligibleCount = 0;
  let i = 0;
  while (i < eligible.length) {
    if (eligible[i] === 0) {
      i++;
      continue;
    }
    const start = i;
    while (i < eligible.length && eligible[i] !== 0) i++;
    eligibleCount += i - start;
    if (i - start >= L) {
      starts.push(start);
      lens.push(i - start);
    }
  }
  return { starts, lens, eligibleCount };
}

function spanPositions(eligible: Uint8Array, ratio: number, L: number, rng: Rng): Int32Array {
  const { starts, lens, eligibleCount } = segmentsOf(eligible, L);
  const wanted = spansWanted(ratio, eligibleCount, L);
  let capacity = 0;
  for (const n of lens) capacity += Math.floor(n / L);
  // When the row cannot hold the requested spans (many short documents), mask as many as fit
  // rather than fail; the row is then masked below the nominal ratio.
  const m = Math.min(wanted, capacity);
  if (m === 0) return EMPTY;

  const starts_ = rejectFromLine(starts, lens, L, m, rng) ?? exactCounts(starts, lens, L, m, rng);
  const out = new Int32Array(m * L);
  for (let k = 0; k < m; k++) for (let d = 0; d < L; d++) out[k * L + d] = starts_[k] + d;
  return out;
}

/**
 * Uniform m-span placement on the concatenation of the usable segments (no barriers), kept
 * only if no span crosses a segment junction. Conditioned on acceptance this is uniform over
 * the valid sets, and it is cheap when rows hold few documents, which is the common case.
 * Returns span starts ascending, or null after SPAN_REJECTION_TRIES failures.
 */
function rejectFromLine(
  starts: number[],
  lens: number[],
  L: number,
  m: number,
  rng: Rng,
): Int32Array | null {
  let total = 0;
  for (const n of lens) total += n;
  const slots = total - m * (L - 1);
  const scratch = identity(slots);
  for (let attempt = 0; attempt < SPAN_REJECTION_TRIES; attempt++) {
    const c = chooseSorted(slots, m, rng, scratch);
    let seg = 0;
    let segBase = 0; // offset of segment `seg` in the concatenation
    let ok = true;
    for (let k = 0; k < m; k++) {
      const o = c[k] + k * (L - 1);
      while (o >= segBase + lens[seg]) segBase += lens[seg++];
      if (o + L > segBase + lens[seg]) {
        ok = false;
        break;
      }
      c[k] = starts[seg] + (o - segBase);
    }
    if (ok) return c;
  }
  return null;
}

/**
 * Exact fallback: per-segment span counts drawn with probability proportional to
 * prod_i C(n_i - m_i(L-1), m_i) via a BigInt DP over segments, then a uniform placement inside
 * each segment. Cost grows with m times the total capacity, independent of the row's luck.
 */
function exactCounts(starts: number[], lens: number[], L: number, m: number, rng: Rng): Int32Array {
  const r = lens.length;
  const caps = lens.map((n) => Math.floor(n / L));
  // f[i][j] = C(n_i - j(L-1), j): ways to put j spans into segment i.
  const f: bigint[][] = lens.map((n, i) => {
    const row: bigint[] = [];
    for (let j = 0; j <= caps[i]; j++) row.push(binomial(n - j * (L - 1), j));
    return row;
  });
  // capAfter[i] = capacity of segments i+1..r-1: prefix totals below m - capAfter[i] can never
  // be completed, so the DP skips them (pure speed-up; values used are unchanged).
  const capAfter = new Array<number>(r).fill(0);
  for (let i = r - 2; i >= 0; i--) capAfter[i] = capAfter[i + 1] + caps[i + 1];

  // P[i][t] = ways to put t spans into segments 0..i (0 outside the computed window).
  const P: bigint[][] = [];
  const lo: number[] = [];
  let prev: bigint[] = [1n];
  let prevLo = 0;
  let cum = 0;
  for (let i = 0; i < r; i++) {
    cum += caps[i];
    const tLo = Math.max(0, m - capAfter[i]);
    const tHi = Math.min(m, cum);
    const cur: bigint[] = new Array(tHi - tLo + 1);
    const fi = f[i];
    for (let t = tLo; t <= tHi; t++) {
      let acc = 0n;
      const jHi = Math.min(caps[i], t);
      for (let j = 0; j <= jHi; j++) {
        const pv = prev[t - j - prevLo];
        if (pv !== undefined) acc += fi[j] * pv;
      }
      cur[t - tLo] = acc;
    }
    P.push(cur);
    lo.push(tLo);
    prev = cur;
    prevLo = tLo;
  }

  const counts = new Array<number>(r).fill(0);
  let t = m;
  for (let i = r - 1; i >= 0; i--) {
    let u = rng.belowBig(P[i][t - lo[i]]);
    const jHi = Math.min(caps[i], t);
    let j = 0;
    for (; j <= jHi; j++) {
      const pv = i === 0 ? (t - j === 0 ? 1n : 0n) : (P[i - 1][t - j - lo[i - 1]] ?? 0n);
      const w = f[i][j] * pv;
      if (u < w) break;
      u -= w;
    }
    counts[i] = j;
    t -= j;
  }

  const out = new Int32Array(m);
  let o = 0;
  for (let i = 0; i < r; i++) {
    const mi = counts[i];
    if (mi === 0) continue;
    const c = chooseSorted(lens[i] - mi * (L - 1), mi, rng);
    for (let k = 0; k < mi; k++) out[o++] = starts[i] + c[k] + k * (L - 1);
  }
  return out;
}

function binomial(n: number, k: number): bigint {
  if (k < 0 || k > n) return 0n;
  if (k > n - k) k = n - k;
  let num = 1n;
  // Multiplicative form stays integral at every step: after step i it equals C(n-k+i, i).
  for (let i = 1; i <= k; i++) num = (num * BigInt(n - k + i)) / BigInt(i);
  return num;
}
