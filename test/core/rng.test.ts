import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bitLength, Rng, rowSeed } from '../../core/rng.ts';
const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const shaArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hexOf);

/** Pearson statistic against a uniform expectation over `counts.length` cells. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
}
/** ~8 sigma above the mean of a chi-square with df degrees: a fixed, generous bound. */
const chiBound = (df: number) => df + 8 * Math.sqrt(2 * df);

describe('rowSeed', () => {
  it('matches the documented test vectors', () => {
    expect(Array.from(rowSeed(0, EMPTY_SHA, 0))).toEqual([926515994, 2123192799, 2850026111, 3616656044]);
    expect(Array.from(rowSeed(42, EMPTY_SHA, 7))).toEqual([2802794829, 3619843850, 2521408239, 1440924191]);
  });

  it('is the first 16 bytes of sha256 over the documented byte layout', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), shaArb, fc.maxSafeNat(), (seed, sha, row) => {
        const buf = Buffer.alloc(61);
        buf.write('meap-mask-v1\0', 0, 'latin1');
        buf.writeBigUInt64LE(BigInt(seed), 13);
        Buffer.from(sha, 'hex').copy(buf, 21);
        buf.writeBigUInt64LE(BigInt(row), 53);
        const d = createHash('sha256').update(buf).digest();
        const words = rowSeed(seed, sha, row);
        for (let i = 0; i < 4; i++) expect(words[i]).toBe(d.readUInt32LE(4 * i));
        // Hex case is not part of the identity of a file.
        expect(Array.from(rowSeed(seed, sha.toUpperCase(), row))).toEqual(Array.from(words));
      }),
      { numRuns: 200 },
    );
  });

  it('rejects inputs it cannot encode', () => {
    expect(() => rowSeed(-1, EMPTY_SHA, 0)).toThrow(RangeError);
    expect(() => rowSeed(1.5, EMPTY_SHA, 0)).toThrow(RangeError);
    expect(() => rowSeed(0, EMPTY_SHA, 2 ** 53)).toThrow(RangeError);
    expect(() => rowSeed(0, EMPTY_SHA.slice(2), 0)).toThrow(RangeError);
    expect(() => rowSeed(0, 'zz' + EMPTY_SHA.slice(2), 0)).toThrow(RangeError);
  });
});

describe('Rng (xoshiro128**)', () => {
  it('matches the reference output for state [1, 2, 3, 4]', () => {
    // Same vector as the reference C code and rand_xoshiro's test suite.
    const rng = new Rng(Uint32Array.of(1, 2, 3, 4));
    const out = Array.from({ length: 10 }, () => rng.nextU32());
    expect(out).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('matches the documented row-stream vector', () => {
    const rng = Rng.forRow(0, EMPTY_SHA, 0);
    expect([rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()]).toEqual([
      1818631068, 1796496057, 1967489785, 392521776,
    ]);
    const r2 = Rng.forRow(0, EMPTY_SHA, 0);
    expect(Array.from({ length: 8 }, () => r2.below(10))).toEqual([8, 7, 5, 6, 1, 8, 0, 0]);
    expect(r2.belowBig(10n ** 30n)).toBe(319581852205977385850441529103n);
  });

  it('fixes up the all-zero state instead of emitting zeros forever', () => {
    const rng = new Rng(new Uint32Array(4));
    const out = Array.from({ length: 8 }, () => rng.nextU32());
    expect(out.some((x) => x !== 0)).toBe(true);
    const same = new Rng(Uint32Array.of(0x9e3779b9, 0, 0, 0));
    expect(Array.from({ length: 8 }, () => same.nextU32())).toEqual(out);
  });

  it('is a pure function of the row identity', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), shaArb, fc.maxSafeNat(), (seed, sha, row) => {
        const a = Rng.forRow(seed, sha, row);
        const b = Rng.forRow(seed, sha, row);
        for (let i = 0; i < 16; i++) expect(a.nextU32()).toBe(b.nextU32());
      }),
      { numRuns: 100 },
    );
  });

  it('gives distinct streams to neighbouring rows, seeds and files', () => {
    const firsts = new Set<string>();
    const key = (r: Rng) => `${r.nextU32()},${r.nextU32()}`;
    for (let row = 0; row < 2000; row++) firsts.add(key(Rng.forRow(0, EMPTY_SHA, row)));
    for (let seed = 1; seed < 2000; seed++) firsts.add(key(Rng.forRow(seed, EMPTY_SHA, 0)));
    const other = 'f'.repeat(64);
    for (let row = 0; row < 2000; row++) firsts.add(key(Rng.forRow(0, other, row)));
    expect(firsts.size).toBe(5999);
  });
});

describe('below', () => {
  it('stays in range for any n, including the edges', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 1, max: 2 ** 32 }), (seed, n) => {
        const rng = new Rng(rowSeed(seed, EMPTY_SHA, 0));
        for (let i = 0; i < 20; i++) {
          const x = rng.below(n);
          expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    const rng = Rng.forRow(1, EMPTY_SHA, 0);
    expect(rng.below(1)).toBe(0);
    const probe = Rng.forRow(1, EMPTY_SHA, 0);
    expect(probe.below(2 ** 32)).toBe(Rng.forRow(1, EMPTY_SHA, 0).nextU32());
  });

  it('rejects exactly the draws at or above 2^32 - (2^32 mod n)', () => {
    // n = 3 * 2^30: lim = 3 * 2^30, so a quarter of the raw words are rejected.
    const n = 3 * 2 ** 30;
    const raw = Rng.forRow(5, EMPTY_SHA, 9);
    const rng = Rng.forRow(5, EMPTY_SHA, 9);
    for (let i = 0; i < 200; i++) {
      let x = raw.nextU32();
      while (x >= n) x = raw.nextU32();
      expect(rng.below(n)).toBe(x % n);
    }
  });

  it('refuses n outside [1, 2^32]', () => {
    const rng = Rng.forRow(0, EMPTY_SHA, 0);
    expect(() => rng.below(0)).toThrow(RangeError);
    expect(() => rng.below(2 ** 32 + 1)).toThrow(RangeError);
    expect(() => rng.below(2.5)).toThrow(RangeError);
  });

  it('is uniform (chi-square)', () => {
    for (const n of [2, 7, 100]) {
      const rng = Rng.forRow(123, EMPTY_SHA, n);
      const counts = new Array(n).fill(0);
      for (let i = 0; i < 200 * n; i++) counts[rng.below(n)]++;
      expect(chiSquare(counts)).toBeLessThan(chiBound(n - 1));
    }
  });
});

describe('belowBig', () => {
  it('draws nothing for n = 1', () => {
    const a = Rng.forRow(3, EMPTY_SHA, 3);
    const b = Rng.forRow(3, EMPTY_SHA, 3);
    expect(a.belowBig(1n)).toBe(0n);
    expect(a.nextU32()).toBe(b.nextU32());
  });

  it('follows the documented word layout', () => {
    // n = 2^40: b = 40, w = 2, top word masked to 8 bits, never rejected.
    const a = Rng.forRow(3, EMPTY_SHA, 4);
    const b = Rng.forRow(3, EMPTY_SHA, 4);
    const hi = BigInt(b.nextU32() & 0xff);
    const lo = BigInt(b.nextU32());
    expect(a.belowBig(1n << 40n)).toBe((hi << 32n) | lo);
    // n <= 2^32 behaves like one masked word per try.
    const c = Rng.forRow(3, EMPTY_SHA, 5);
    const d = Rng.forRow(3, EMPTY_SHA, 5);
    for (let i = 0; i < 50; i++) {
      let x = d.nextU32() & 0x7f;
      while (x >= 100) x = d.nextU32() & 0x7f;
      expect(c.belowBig(100n)).toBe(BigInt(x));
    }
  });

  it('stays in range', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.bigInt({ min: 1n, max: 1n << 300n }), (seed, n) => {
        const rng = new Rng(rowSeed(seed, EMPTY_SHA, 1));
        for (let i = 0; i < 10; i++) {
          const x = rng.belowBig(n);
          expect(x >= 0n && x < n).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    expect(() => Rng.forRow(0, EMPTY_SHA, 0).belowBig(0n)).toThrow(RangeError);
  });

  it('is uniform (chi-square), also when most tries are rejected', () => {
    for (const n of [5n, 33n, (1n << 64n) + 1n]) {
      const rng = Rng.forRow(77, EMPTY_SHA, Number(n % 1000n));
      const cells = 32;
      const counts = new Array(cells).fill(0);
      // Bucket by value * cells / n so that huge n can be tested on few cells.
      const draws = n < 64n ? Number(n) * 300 : 20000;
      const buckets = n < 64n ? Number(n) : cells;
      counts.length = buckets;
      counts.fill(0);
      for (let i = 0; i < draws; i++) counts[Number((rng.belowBig(n) * BigInt(buckets)) / n)]++;
      expect(chiSquare(counts)).toBeLessThan(chiBound(buckets - 1));
    }
  });
});

describe('bitLength', () => {
  it('counts binary digits', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 1n << 500n }), (v) => {
        expect(bitLength(v)).toBe(v === 0n ? 0 : v.toString(2).length);
      }),
    );
  });
});
