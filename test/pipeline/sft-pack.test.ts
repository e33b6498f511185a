import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PACK_WINDOW_ROWS, SftPacker } from '../../pipeline/sft-pack.ts';
import type { SftSequence } from '../../pipeline/sft.ts';

/** A sequence of `len` tokens all `tag`, so that a row shows which sequences it holds, in which order. */
const seq = (len: number, tag: number): SftSequence => ({
  inputIds: new Int32Array(len).fill(tag),
  labels: new Int32Array(len).fill(-tag),
  positions: Int32Array.from({ length: len }, (_, i) => i),
  masked: 1,
});

/** Each example's sequences, packed; every row as its sequences' [tag, length]. */
function pack(examples: SftSequence[][], seqLen: number): { rows: SftSequence[]; parts: [number, number][][] } {
  const p = new SftPacker(seqLen);
  const rows = [...examples.flatMap((e) => p.push(e)), ...p.finish()];
  return { rows, parts: rows.map(partsOf) };
}

function partsOf(row: SftSequence): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < row.inputIds.length; ) {
    let b = a + 1;
    while (b < row.inputIds.length && row.positions[b] !== 0) b++;
    out.push([row.inputIds[a], b - a]);
    a = b;
  }
  return out;
}

const single = (lens: number[]) => lens.map((n, i) => [seq(n, i + 1)]);

describe('SftPacker', () => {
  it('packs the longest first, each into the fullest row that holds it; rows in the order they opened', () => {
    // In input order, greedily, these take 5 rows: [4 5] [3] [8] [10] [1].
    const { rows, parts } = pack(single([4, 5, 3, 8, 10, 1]), 10);
    expect(parts).toEqual([[[5, 10]], [[4, 8]], [[2, 5], [1, 4], [6, 1]], [[3, 3]]]);
    expect(Array.from(rows[2].positions)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 0]);
    expect(Array.from(rows[2].labels)).toEqual([-2, -2, -2, -2, -2, -1, -1, -1, -1, -6]);
    expect(rows[2].masked).toBe(3);
  });

  it('breaks ties by input order, then by the row opened first', () => {
    expect(pack(single([6, 6, 4, 4]), 10).parts).toEqual([
      [[1, 6], [3, 4]],
      [[2, 6], [4, 4]],
    ]);
  });

  it("keeps an example's sequences together where one row holds them, and places them apart where not", () => {
    const { parts } = pack([[seq(3, 1), seq(3, 2)], [seq(6, 3), seq(6, 4)], [seq(4, 5)]], 10);
    expect(parts).toEqual([[[1, 3], [2, 3], [5, 4]], [[3, 6]], [[4, 6]]]);
  });

  it('empties a row that best-fit decreasing leaves to spare: 20 tokens in 2 rows of 10, not 3', () => {
    // Best-fit decreasing: [5 4] [3 3 3] [2]. The re-pack fills the first row from the pooled
    // sequences, longest first, with the first subset that reaches 10, and the second with the rest.
    expect(pack(single([5, 4, 3, 3, 3, 2]), 10).parts).toEqual([
      [[2, 4], [3, 3], [4, 3]],
      [[1, 5], [5, 3], [6, 2]],
    ]);
  });

  it("writes a window's rows once it holds PACK_WINDOW_ROWS rows' worth of tokens, and packs the next alone", () => {
    const p = new SftPacker(8);
    for (let i = 0; i < PACK_WINDOW_ROWS - 1; i++) expect(p.push([seq(8, i + 1)])).toEqual([]);
    expect(p.push([seq(8, PACK_WINDOW_ROWS)])).toHaveLength(PACK_WINDOW_ROWS);
    expect(p.push([seq(2, 1)])).toEqual([]);
    expect(p.finish().map(partsOf)).toEqual([[[1, 2]]]);
    expect(p.finish()).toEqual([]);
  });

  it('splits and drops nothing, keeps pairs that fit together, and gives the same rows every time', () => {
    const examples = fc.array(fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 2 }), { maxLength: 200 });
    fc.assert(
      fc.property(fc.integer({ min: 16, max: 64 }), examples, (seqLen, lens) => {
        let tag = 0;
        const input = lens.map((e) => e.map((n) => seq(Math.min(n, seqLen), ++tag)));
        const { rows, parts } = pack(input, seqLen);
        const placed = parts.flat().sort((a, b) => a[0] - b[0]);
        expect(placed).toEqual(input.flat().map((s) => [s.inputIds[0], s.inputIds.length]));
        for (const row of rows) expect(row.inputIds.length).toBeLessThanOrEqual(seqLen);
        const tokens = input.flat().reduce((s, x) => s + x.inputIds.length, 0);
        expect(rows.length).toBeGreaterThanOrEqual(Math.ceil(tokens / seqLen));
        for (const e of input) {
          if (e.length < 2 || e[0].inputIds.length + e[1].inputIds.length > seqLen) continue;
          const row = parts.find((p) => p.some(([t]) => t === e[0].inputIds[0]))!;
          const at = row.findIndex(([t]) => t === e[0].inputIds[0]);
          expect(row[at + 1][0]).toBe(e[1].inputIds[0]);
        }
        expect(pack(input, seqLen).parts).toEqual(parts);
      }),
    );
  });
});
