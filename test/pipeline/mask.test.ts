import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullRowMaskedShare, longestSpanForSeqLen, maskPositions, maskRow, smallestSeqLenForSpan, SPAN_REJECTION_TRIES, type MaskSpec } from '../../pipeline/mask.ts';
import { Rng } from '../../core/rng.ts';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const shaArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

const random = (ratio: number): MaskSpec => ({ strategy: 'random', ratio, spanLength: null, maskTokenId: 7 });
const span = (ratio: number, L: number): MaskSpec => ({ strategy: 'span', ratio, spanLength: L, maskTokenId: 7 });

/** Row layout from segment lengths: one ineligible position before each segment and at the end. */
function rowOf(segLens: number[]): Uint8Array {
  const out: number[] = [];
  for (const n of segLens) out.push(0, ...new Array(n).fill(1));
  out.push(0);
  return Uint8Array.from(out);
}

function segmentsOf(eligible: Uint8Array): number[][] {
  const segs: number[][] = [];
  let cur: number[] | null = null;
  eligible.forEach((e, i) => {
    if (e) (cur ??= (segs.push([]), segs[segs.length - 1])).push(i);
    else cur = null;
  });
  return segs;
}

const count = (e: Uint8Array) => e.reduce((a, b) => a + b, 0);
const capacity = (e: Uint8Array, L: number) => segmentsOf(e).reduce((s, seg) => s + Math.floor(seg.length / L), 0);

/** Asserts the span invariants and returns the span starts. */
function checkSpans(pos: Int32Array, eligible: Uint8Array, L: number): number[] {
  // Plain checks with one expect per row: expect() in the inner loop dominated test time.
  const problems: string[] = [];
  if (pos.length % L !== 0) problems.push(`${pos.length} positions is not a multiple of ${L}`);
  const starts: number[] = [];
  for (let k = 0; k + L <= pos.length; k += L) {
    starts.push(pos[k]);
    for (let d = 0; d < L; d++) {
      // Contiguous, and never over an ineligible position (BOS/EOS/special/last).
      if (pos[k + d] !== pos[k] + d) problems.push(`span at ${pos[k]} is not contiguous`);
      if (eligible[pos[k + d]] !== 1) problems.push(`position ${pos[k + d]} is not eligible`);
    }
    // Non-overlapping and ascending.
    if (k > 0 && pos[k] <= pos[k - 1]) problems.push(`span at ${pos[k]} overlaps its predecessor`);
  }
  expect(problems).toEqual([]);
  return starts;
}

function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}
/** ~8 sigma above the mean of a chi-square with df degrees: fixed and generous, never flaky. */
const chiBound = (df: number) => df + 8 * Math.sqrt(2 * df);

/** All sets of m non-overlapping L-spans inside the segments, as "start,start,..." keys. */
function enumerateSpanSets(eligible: Uint8Array, L: number, m: number): string[] {
  const valid: number[] = [];
  for (let s = 0; s + L <= eligible.length; s++) {
    let ok = true;
    for (let d = 0; d < L; d++) ok &&= eligible[s + d] === 1;
    if (ok) valid.push(s);
  }
  const out: string[] = [];
  const rec = (from: number, minStart: number, acc: number[]) => {
    if (acc.length === m) return void out.push(acc.join(','));
    for (let i = from; i < valid.length; i++) {
      if (valid[i] >= minStart) rec(i + 1, valid[i] + L, [...acc, valid[i]]);
    }
  };
  rec(0, 0, []);
  return out;
}

function combos(n: number, k: number): string[] {
  const out: string[] = [];
  const rec = (from: number, acc: number[]) => {
    if (acc.length === k) return void out.push(acc.join(','));
    for (let i = from; i < n; i++) rec(i + 1, [...acc, i]);
  };
  rec(0, []);
  return out;
}

const eligibleArb = fc
  .array(fc.oneof(fc.constant(0), fc.constant(1), fc.constant(1), fc.constant(1)), { maxLength: 400 })
  .map((a) => Uint8Array.from(a));
/** Rows made of many short documents, where span placement is hardest. */
const shortDocsArb = fc
  .array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 60 })
  .map((lens) => rowOf(lens));
const ratioArb = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.15, 0.5, 1));

describe('random masking', () => {
  it('masks exactly floor(ratio * E) distinct eligible positions, ascending', () => {
    fc.assert(
      fc.property(eligibleArb, ratioArb, fc.maxSafeNat(), shaArb, fc.nat(), (e, ratio, seed, sha, row) => {
        const pos = maskPositions(e, random(ratio), Rng.forRow(seed, sha, row));
        expect(pos.length).toBe(Math.floor(ratio * count(e)));
        for (let i = 0; i < pos.length; i++) {
          expect(e[pos[i]]).toBe(1);
          if (i > 0) expect(pos[i]).toBeGreaterThan(pos[i - 1]);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('is uniform over all k-subsets (chi-square, E = 12 in three segments)', () => {
    const e = rowOf([5, 4, 3]);
    const elig = segmentsOf(e).flat();
    const sets = combos(12, 3).map((k) => k.split(',').map((i) => elig[Number(i)]).join(','));
    const index = new Map(sets.map((k, i) => [k, i]));
    const counts = new Array(sets.length).fill(0);
    const draws = sets.length * 150;
    for (let row = 0; row < draws; row++) {
      const key = Array.from(maskPositions(e, random(0.25), Rng.forRow(11, EMPTY_SHA, row))).join(',');
      counts[index.get(key)!]++;
    }
    expect(counts.every((c) => c > 0)).toBe(true);
    expect(chiSquare(counts)).toBeLessThan(chiBound(sets.length - 1));
  });
});

describe('span masking', () => {
  it('masks min(floor(ratio * E / L), capacity) contiguous, disjoint spans inside segments', () => {
    fc.assert(
      fc.property(
        fc.oneof(eligibleArb, shortDocsArb),
        ratioArb,
        fc.constantFrom(1, 2, 3, 5, 8, 50),
        fc.maxSafeNat(),
        fc.nat(),
        (e, ratio, L, seed, row) => {
          const pos = maskPositions(e, span(ratio, L), Rng.forRow(seed, EMPTY_SHA, row));
          const starts = checkSpans(pos, e, L);
          expect(starts.length).toBe(Math.min(Math.floor((ratio * count(e)) / L), capacity(e, L)));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('places as many spans as fit when the row cannot hold the requested number', () => {
    // E = 8 asks for floor(8 / 3) = 2 spans, but only the 4-run can hold one.
    const e = rowOf([2, 4, 2]);
    for (let row = 0; row < 50; row++) {
      const pos = maskPositions(e, span(1, 3), Rng.forRow(0, EMPTY_SHA, row));
      expect(checkSpans(pos, e, 3).length).toBe(1);
      expect(pos[0] === 4 || pos[0] === 5).toBe(true);
    }
    // Runs shorter than L never get a span, yet still count in E.
    expect(maskPositions(rowOf([4, 4, 4]), span(1, 5), Rng.forRow(0, EMPTY_SHA, 0)).length).toBe(0);
  });

  it('L = 1 masks the same number of positions as random masking would', () => {
    const e = rowOf([7, 1, 9]);
    const pos = maskPositions(e, span(0.5, 1), Rng.forRow(0, EMPTY_SHA, 0));
    expect(pos.length).toBe(8);
  });

  // Each case: segments, L, ratio. The second is 10 runs of 3 packed full, where barrier-free
  // rejection accepts ~0.5% of tries, so most draws go through the exact DP fallback.
  const uniformCases: Array<[string, number[], number, number]> = [
    ['E = 12, three segments, L = 2', [5, 4, 3], 2, 0.5],
    ['E = 12, two segments, L = 3', [7, 5], 3, 0.5],
    ['E = 14, four segments, L = 2, with a run too short for a span', [5, 1, 4, 4], 2, 0.5],
    ['ten full runs (mostly the DP fallback)', [3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 2, 2 / 3],
  ];
  for (const [name, segs, L, ratio] of uniformCases) {
    it(`is uniform over all valid span sets (chi-square): ${name}`, () => {
      const e = rowOf(segs);
      const m = Math.min(Math.floor((ratio * count(e)) / L), capacity(e, L));
      const sets = enumerateSpanSets(e, L, m);
      expect(sets.length).toBeGreaterThan(1);
      const index = new Map(sets.map((k, i) => [k, i]));
      const counts = new Array(sets.length).fill(0);
      const draws = Math.max(sets.length * 40, 6000);
      for (let row = 0; row < draws; row++) {
        const pos = maskPositions(e, span(ratio, L), Rng.forRow(5, EMPTY_SHA, row));
        const key = checkSpans(pos, e, L).join(',');
        const at = index.get(key);
        if (at === undefined) expect.fail(`row ${row} drew a set that is not valid: ${key}`);
        counts[at]++;
      }
      expect(counts.every((c) => c > 0)).toBe(true);
      expect(chiSquare(counts)).toBeLessThan(chiBound(sets.length - 1));
    });
  }

  it('has a rejection budget that is part of the spec', () => {
    expect(SPAN_REJECTION_TRIES).toBe(64);
  });
});

describe('sft-duplicate', () => {
  it('masks exactly max(1, floor(ratio × n)) answer positions, uniform without replacement', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.nat(1_000_000), (n, ratio, index) => {
        const e = new Uint8Array(n + 20);
        e.fill(1, 10, 10 + n);
        const pos = maskPositions(e, { strategy: 'sft-duplicate', ratio, spanLength: null, maskTokenId: 0 }, Rng.forRow(1, EMPTY_SHA, index));
        expect(pos.length).toBe(Math.min(n, Math.max(1, Math.floor(ratio * n))));
        for (let i = 0; i < pos.length; i++) {
          expect(e[pos[i]]).toBe(1);
          if (i > 0) expect(pos[i]).toBeGreaterThan(pos[i - 1]);
        }
      }),
    );
  });
});

describe('none', () => {
  it('masks nothing', () => {
    const e = rowOf([10, 10]);
    expect(maskPositions(e, { strategy: 'none', ratio: 0.5, spanLength: null, maskTokenId: 0 }, Rng.forRow(0, EMPTY_SHA, 0)).length).toBe(0);
  });
});

describe('determinism and variety', () => {
  it('is a pure function of (seed, file, row)', () => {
    fc.assert(
      fc.property(
        fc.oneof(eligibleArb, shortDocsArb),
        fc.constantFrom<MaskSpec>(random(0.15), span(0.15, 3), span(0.3, 5), span(0.9, 2)),
        fc.maxSafeNat(),
        shaArb,
        fc.nat(),
        (e, spec, seed, sha, row) => {
          const a = maskPositions(e, spec, Rng.forRow(seed, sha, row));
          const b = maskPositions(e, spec, Rng.forRow(seed, sha, row));
          expect(Array.from(a)).toEqual(Array.from(b));
        },
      ),
      { numRuns: 300 },
    );
  });

  for (const spec of [random(0.15), span(0.15, 5)]) {
    it(`gives 10,000 rows 10,000 distinct patterns (${spec.strategy})`, () => {
      const e = rowOf([100, 60, 90]);
      const seen = new Set<string>();
      for (let row = 0; row < 10_000; row++) {
        seen.add(Array.from(maskPositions(e, spec, Rng.forRow(3, EMPTY_SHA, row))).join(','));
      }
      expect(seen.size).toBe(10_000);
    });

    it(`changes the pattern with the seed and the file (${spec.strategy})`, () => {
      const e = rowOf([100, 60, 90]);
      const key = (seed: number, sha: string, row: number) =>
        Array.from(maskPositions(e, spec, Rng.forRow(seed, sha, row))).join(',');
      const seen = new Set<string>();
      for (let i = 0; i < 500; i++) {
        seen.add(key(i, EMPTY_SHA, 0));
        seen.add(key(0, i.toString(16).padStart(64, '0'), 0));
      }
      expect(seen.size).toBe(1000);
    });
  }
});

describe('maskRow', () => {
  it('replaces exactly the masked positions with the mask token', () => {
    fc.assert(
      fc.property(fc.oneof(eligibleArb, shortDocsArb), fc.maxSafeNat(), fc.nat(), (e, seed, row) => {
        const tokens = Int32Array.from(e, (_, i) => 1000 + i);
        const spec = span(0.3, 3);
        const { inputIds, masked } = maskRow(tokens, e, spec, seed, EMPTY_SHA, row);
        const pos = maskPositions(e, spec, Rng.forRow(seed, EMPTY_SHA, row));
        expect(masked).toBe(pos.length);
        const set = new Set(pos);
        for (let i = 0; i < tokens.length; i++) expect(inputIds[i]).toBe(set.has(i) ? 7 : 1000 + i);
        expect(tokens[0] ?? 1000).toBe(1000); // the caller's tokens are untouched
      }),
      { numRuns: 200 },
    );
  });

  it('leaves tokens alone for strategy none and checks its inputs', () => {
    const tokens = Int32Array.of(1, 2, 3);
    const none: MaskSpec = { strategy: 'none', ratio: 0.5, spanLength: null, maskTokenId: 0 };
    expect(maskRow(tokens, Uint8Array.of(0, 1, 0), none, 0, EMPTY_SHA, 0)).toEqual({ inputIds: tokens, masked: 0 });
    expect(() => maskRow(tokens, Uint8Array.of(0, 1), none, 0, EMPTY_SHA, 0)).toThrow(RangeError);
    const e = Uint8Array.of(0, 1, 0);
    const rng = Rng.forRow(0, EMPTY_SHA, 0);
    expect(() => maskPositions(e, random(1.5), rng)).toThrow(RangeError);
    expect(() => maskPositions(e, random(Number.NaN), rng)).toThrow(RangeError);
    expect(() => maskPositions(e, { ...span(0.5, 2), spanLength: null }, rng)).toThrow(RangeError);
    expect(() => maskPositions(e, span(0.5, 0), rng)).toThrow(RangeError);
  });
});

describe('full rows: the masked share and where spans fit', () => {
  /** A full row of one document, as the packer marks it: every position but the last. */
  const fullRow = (seqLen: number) => Uint8Array.from({ length: seqLen }, (_, i) => (i < seqLen - 1 ? 1 : 0));
  const masked = (spec: MaskSpec, seqLen: number) => maskPositions(fullRow(seqLen), spec, Rng.forRow(1, EMPTY_SHA, 0)).length;

  it("is the share maskPositions gives a full row, for every strategy", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 600 }), ratioArb, fc.integer({ min: 1, max: 60 }), (seqLen, ratio, L) => {
        for (const spec of [random(ratio), span(ratio, L), { ...random(ratio), strategy: 'sft-duplicate' as const }, { ...random(ratio), strategy: 'none' as const }]) {
          expect(fullRowMaskedShare(spec, seqLen)).toBe(masked(spec, seqLen) / (seqLen - 1));
        }
      }),
      { numRuns: 200 },
    );
  });

  it("gives the issue's numbers: span 50 masks nothing at 128 tokens and 9.78% at 512", () => {
    expect(fullRowMaskedShare(span(0.15, 50), 128)).toBe(0);
    expect(fullRowMaskedShare(span(0.15, 50), 512)).toBeCloseTo(50 / 511, 12);
    expect(fullRowMaskedShare(random(0.15), 4096)).toBeCloseTo(614 / 4095, 12);
  });

  it('finds the smallest seqLen and the longest span by the spec\'s double arithmetic, not real numbers', () => {
    expect(smallestSeqLenForSpan(0.15, 50)).toBe(335);
    expect(longestSpanForSeqLen(0.15, 128)).toBe(19);
    expect(longestSpanForSeqLen(0.15, 334)).toBe(49);
    // 0.29 × 100 is 28.999999999999996 in doubles: 100 eligible positions hold no span of 29.
    expect(smallestSeqLenForSpan(0.29, 29)).toBe(102);
    expect(longestSpanForSeqLen(0.29, 101)).toBe(28);
    // And the other way: 145 / 0.29 is 500.00000000000006, yet 0.29 × 500 is 145: 500 positions hold one.
    expect(smallestSeqLenForSpan(0.29, 145)).toBe(501);
    expect(smallestSeqLenForSpan(1, 1)).toBe(2);
    expect(longestSpanForSeqLen(1, 2)).toBe(1);
    expect(smallestSeqLenForSpan(0, 5)).toBeNull();
    expect(longestSpanForSeqLen(0.001, 128)).toBe(0);
  });

  it('is exact at every edge: the seqLen found fits a span, the one below does not; likewise the span', () => {
    fc.assert(
      fc.property(ratioArb.filter((r) => r >= 0.005), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 2, max: 3000 }), (ratio, L, seqLen) => {
        const s = smallestSeqLenForSpan(ratio, L)!;
        expect(masked(span(ratio, L), s)).toBeGreaterThan(0);
        if (s > 2) expect(masked(span(ratio, L), s - 1)).toBe(0);
        const longest = longestSpanForSeqLen(ratio, seqLen);
        if (longest > 0) expect(masked(span(ratio, longest), seqLen)).toBeGreaterThan(0);
        expect(masked(span(ratio, longest + 1), seqLen)).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('documented test vectors (README, mask specification)', () => {
  const docRow = rowOf([10, 10]);
  const vectors: Array<[string, Uint8Array, MaskSpec, number, number, number[]]> = [
    ['random', docRow, random(0.3), 42, 0, [2, 5, 15, 17, 18, 19]],
    ['span, rejection path', docRow, span(0.4, 2), 42, 0, [9, 10, 13, 14, 15, 16, 18, 19]],
    [
      'span, DP fallback',
      rowOf([3, 3, 3, 3, 3, 3, 3, 3, 3, 3]),
      span(0.7, 2),
      42,
      1,
      [2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 25, 26, 29, 30, 34, 35, 38, 39],
    ],
  ];
  for (const [name, e, spec, seed, row, expected] of vectors) {
    it(name, () => {
      expect(Array.from(maskPositions(e, spec, Rng.forRow(seed, EMPTY_SHA, row)))).toEqual(expected);
    });
  }
});

const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('cross-implementation', () => {
  it.skipIf(!hasPython)('docs/mask_reference.py reproduces every mask', () => {
    // Jobs come from our own deterministic generator so that a failure is reproducible.
    const gen = Rng.forRow(2025, EMPTY_SHA, 0);
    const pick = <T>(xs: T[]) => xs[gen.below(xs.length)];
    const jobs: Array<Record<string, unknown>> = [];
    for (let i = 0; i < 400; i++) {
      const layout = gen.below(3);
      let eligible: number[];
      if (layout === 0) {
        // Arbitrary pattern of mostly eligible positions.
        eligible = Array.from({ length: gen.below(700) }, () => (gen.below(8) === 0 ? 0 : 1));
      } else {
        // Packed documents: short ones stress the DP fallback, long ones the rejection path.
        const [docs, maxDoc] = layout === 1 ? [80, 12] : [12, 400];
        eligible = Array.from(rowOf(Array.from({ length: 1 + gen.below(docs) }, () => gen.below(maxDoc + 1))));
      }
      const sha = Array.from({ length: 8 }, () => gen.nextU32().toString(16).padStart(8, '0')).join('');
      jobs.push({
        seed: gen.below(2 ** 32) * 1024 + gen.below(1024),
        fileSha256: sha,
        rowIndex: gen.below(1_000_000),
        eligible,
        strategy: pick(['random', 'span', 'span', 'span', 'none', 'sft-duplicate']),
        ratio: pick([0, 0.05, 0.15, 0.3, 0.5, 0.9, 1, gen.nextU32() / 2 ** 32]),
        spanLength: pick([1, 2, 3, 5, 8, 50]),
      });
    }
    const out = execFileSync('python3', ['docs/mask_reference.py'], {
      cwd: ROOT,
      input: JSON.stringify(jobs),
      maxBuffer: 1 << 28,
    }).toString();
    const expected = JSON.parse(out) as number[][];
    expect(expected.length).toBe(jobs.length);
    jobs.forEach((j, i) => {
      const spec: MaskSpec = {
        strategy: j.strategy as MaskSpec['strategy'],
        ratio: j.ratio as number,
        spanLength: j.spanLength as number,
        maskTokenId: 0,
      };
      const got = maskPositions(
        Uint8Array.from(j.eligible as number[]),
        spec,
        Rng.forRow(j.seed as number, j.fileSha256 as string, j.rowIndex as number),
      );
      expect({ job: i, positions: Array.from(got) }).toEqual({ job: i, positions: expected[i] });
    });
  });
});
