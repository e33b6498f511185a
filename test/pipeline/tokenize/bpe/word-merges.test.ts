/** The heap merge against the textbook loop: repeatedly merge the lowest-ranked, leftmost adjacent pair. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MergeScratch, mergeWord } from '../../../../pipeline/tokenize/bpe/word-merges.ts';
import { PairTable } from '../../../../pipeline/tokenize/bpe/pairs.ts';

function naive(word: number[], merges: Map<string, [number, number]>): number[] {
  const w = [...word];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < w.length; i++) {
      const m = merges.get(`${w[i]},${w[i + 1]}`);
      if (m && m[0] < bestRank) [best, bestRank] = [i, m[0]];
    }
    if (best < 0) return w;
    w.splice(best, 2, merges.get(`${w[best]},${w[best + 1]}`)![1]);
  }
}

describe('mergeWord', () => {
  it('merges a hand example by rank, leftmost first', () => {
    // a=0 b=1; ab=2 (rank 0), aab=3 (rank 1)
    const t = PairTable.create(2);
    t.set(0, 1, 0, 2);
    t.set(0, 2, 1, 3);
    const s = new MergeScratch();
    s.ids.set([0, 0, 1, 0, 1]);
    expect(Array.from(s.ids.subarray(0, mergeWord(s, 5, t, false)))).toEqual([3, 2]);
    expect(mergeWord(s, 0, t, false)).toBe(0);
  });

  it('equals the textbook loop on random merge tables and words, long ones included', () => {
    // Each new token comes from one pair only: there the heap's staleness check by new id is exact.
    const table = fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 })), { selector: ([a, b]) => `${a},${b}`, maxLength: 30 });
    fc.assert(
      fc.property(table, fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 300 }), (pairs, word) => {
        const t = PairTable.create(pairs.length);
        const ref = new Map<string, [number, number]>();
        pairs.forEach(([a, b], rank) => {
          t.set(a, b, rank, 6 + rank);
          ref.set(`${a},${b}`, [rank, 6 + rank]);
        });
        const s = new MergeScratch();
        s.reserve(word.length);
        s.ids.set(word);
        expect(Array.from(s.ids.subarray(0, mergeWord(s, word.length, t, false)))).toEqual(naive(word, ref));
      }),
      { numRuns: 300 },
    );
  });

  it('the linear merge of short words equals the heap where one token has several merges, as long as the vocab is injective', () => {
    // Tokens are strings over "abcd"; a merge makes the concatenation's id, an existing one when the
    // string is already a token, so several merges make one token, as in Llama-2 and Llama-3.
    const picks = fc.array(fc.tuple(fc.nat(), fc.nat()), { maxLength: 40 });
    fc.assert(
      fc.property(picks, fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 40 }), (merges, word) => {
        const tokens = ['a', 'b', 'c', 'd'];
        const ids = new Map(tokens.map((t, i) => [t, i]));
        const t = PairTable.create(merges.length);
        const ref = new Map<string, [number, number]>();
        merges.forEach(([x, y], rank) => {
          const [a, b] = [x % tokens.length, y % tokens.length];
          const joined = tokens[a] + tokens[b];
          if (!ids.has(joined)) ids.set(joined, tokens.push(joined) - 1);
          const key = `${a},${b}`;
          if (ref.has(key)) return;
          t.set(a, b, rank, ids.get(joined)!);
          ref.set(key, [rank, ids.get(joined)!]);
        });
        const results = [true, false].map((linear) => {
          const s = new MergeScratch();
          s.reserve(word.length);
          s.ids.set(word);
          return Array.from(s.ids.subarray(0, mergeWord(s, word.length, t, linear)));
        });
        expect(results[0]).toEqual(naive(word, ref));
        expect(results[1]).toEqual(results[0]);
      }),
      { numRuns: 500 },
    );
  });
});
