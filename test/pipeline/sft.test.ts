import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../../core/rng.ts';
import { buildExample, type SftSpec } from '../../pipeline/sft.ts';
import { IGNORE_INDEX as IGNORE } from '../../core/constants.ts';
const EMPTY_SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const spec = (over: Partial<SftSpec> = {}): SftSpec => ({
  seqLen: 4096, ratio: 0.1, minAnswerTokens: 50, layout: 'concat', maskTokenId: 999, bosId: 1, eosId: 2, ...over,
});
const range = (n: number, from = 10) => Array.from({ length: n }, (_, i) => from + (i % 500));
const rng = (i = 0) => () => Rng.forRow(0, EMPTY_SHA, i);

describe('buildExample', () => {
  it('gives short answers one row of plain next-token prediction', () => {
    const out = buildExample([5, 6, 7], range(50), spec(), rng());
    if (out.kind !== 'rows') throw new Error('skipped');
    expect(out.duplicated).toBe(false);
    const [row] = out.sequences;
    expect(Array.from(row.inputIds)).toEqual([1, 5, 6, 7, ...range(50), 2]);
    expect(Array.from(row.labels)).toEqual([IGNORE, IGNORE, IGNORE, IGNORE, ...range(50), 2]);
    expect(Array.from(row.positions)).toEqual(Array.from({ length: 55 }, (_, i) => i));
  });

  it('duplicates longer answers and masks exactly max(1, floor(ratio × n)) answer tokens of the copy', () => {
    fc.assert(
      fc.property(fc.integer({ min: 51, max: 900 }), fc.integer({ min: 0, max: 30 }), fc.nat(10_000), (n, p, index) => {
        const prompt = range(p, 600);
        const answer = range(n);
        const out = buildExample(prompt, answer, spec({ layout: 'separate' }), rng(index));
        if (out.kind !== 'rows') throw new Error('skipped');
        const [orig, copy] = out.sequences;
        const src = 1 + p;
        expect(out.duplicated).toBe(true);
        expect(copy.masked).toBe(Math.max(1, Math.floor(0.1 * n)));
        let masked = 0;
        for (let i = 0; i < orig.inputIds.length; i++) {
          expect(orig.labels[i]).toBe(i < src ? IGNORE : orig.inputIds[i]);
          if (copy.inputIds[i] === 999) {
            masked++;
            expect(i >= src && i < src + n).toBe(true);
            expect(copy.labels[i]).toBe(orig.inputIds[i]);
          } else {
            expect(copy.inputIds[i]).toBe(orig.inputIds[i]);
            expect(copy.labels[i]).toBe(IGNORE);
          }
        }
        expect(masked).toBe(copy.masked);
        expect(copy.labels.at(-1)).toBe(IGNORE);
      }),
      { numRuns: 200 },
    );
  });

  it('concat puts original ++ copy in one row with position_ids running through', () => {
    const out = buildExample([5, 6], range(60), spec(), rng());
    if (out.kind !== 'rows') throw new Error('skipped');
    expect(out.sequences).toHaveLength(1);
    const [pair] = out.sequences;
    expect(pair.inputIds.length).toBe(2 * 64);
    expect(Array.from(pair.positions)).toEqual(Array.from({ length: 128 }, (_, i) => i));
    expect(Array.from(pair.inputIds.subarray(64, 67))).toEqual([1, 5, 6]);
  });

  it('falls back to two rows when the pair does not fit, and truncates the answer keeping EOS', () => {
    const fallback = buildExample([5, 6], range(60), spec({ seqLen: 100 }), rng());
    if (fallback.kind !== 'rows') throw new Error('skipped');
    expect(fallback.layoutFallback).toBe(true);
    expect(fallback.sequences.map((s) => s.inputIds.length)).toEqual([64, 64]);

    const cut = buildExample([5, 6], range(300), spec({ seqLen: 100 }), rng());
    if (cut.kind !== 'rows') throw new Error('skipped');
    expect(cut.truncated).toBe(true);
    expect(cut.sequences[0].inputIds.length).toBe(100);
    expect(cut.sequences[0].inputIds.at(-1)).toBe(2);
    // 100 - 3 source - 1 EOS = 96 answer tokens remain: still over the threshold, so masked from those.
    expect(cut.sequences[1].masked).toBe(9);

    const shortAfterCut = buildExample(range(60, 600), range(300), spec({ seqLen: 100 }), rng());
    if (shortAfterCut.kind !== 'rows') throw new Error('skipped');
    expect(shortAfterCut.duplicated).toBe(false); // 38 answer tokens left: the threshold counts after truncation
  });

  it('skips an example whose prompt leaves no room for an answer token', () => {
    expect(buildExample(range(98, 600), range(10), spec({ seqLen: 100 }), rng())).toEqual({ kind: 'skip', reason: 'promptTooLong' });
    expect(buildExample(range(97, 600), range(10), spec({ seqLen: 100 }), rng()).kind).toBe('rows');
  });

  it('works without BOS (GPT-2) and without EOS', () => {
    const out = buildExample([5], range(3), spec({ bosId: null, eosId: null }), rng());
    if (out.kind !== 'rows') throw new Error('skipped');
    expect(Array.from(out.sequences[0].inputIds)).toEqual([5, 10, 11, 12]);
  });
});
