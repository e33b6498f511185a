import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Packer, type PackedRow } from '../../pipeline/pack.ts';

const special = new Set([1, 2]);
const packAll = (docs: number[][], seqLen: number, bosId: number | null = 1, eosId: number | null = 2) => {
  const p = new Packer(seqLen, special, { bosId, eosId });
  const rows: PackedRow[] = docs.flatMap((d) => p.push(d));
  const last = p.finish();
  if (last) rows.push(last);
  return rows;
};

describe('Packer', () => {
  it('frames documents as [BOS] ids [EOS] and cuts rows of exactly seqLen', () => {
    const rows = packAll([[10, 11, 12], [20, 21]], 4);
    expect(rows.map((r) => Array.from(r.tokens))).toEqual([
      [1, 10, 11, 12],
      [2, 1, 20, 21],
      [2],
    ]);
  });

  it('restarts position_ids at every document start and every row start', () => {
    const rows = packAll([[10, 11, 12], [20, 21]], 4);
    expect(rows.map((r) => Array.from(r.positions))).toEqual([
      [0, 1, 2, 3],
      [4 - 4, 0, 1, 2],
      [3 - 3],
    ]);
  });

  it('marks BOS/EOS and the last position of a row ineligible', () => {
    const [row] = packAll([[10, 11], [20]], 8);
    expect(Array.from(row.tokens)).toEqual([1, 10, 11, 2, 1, 20, 2]);
    expect(Array.from(row.eligible)).toEqual([0, 1, 1, 0, 0, 1, 0]);
    const [full] = packAll([[10, 11, 12, 13]], 4, null, null);
    expect(Array.from(full.eligible)).toEqual([1, 1, 1, 0]);
  });

  it('honours a tokenizer without BOS (GPT-2)', () => {
    const rows = packAll([[10], [11]], 16, null, 2);
    expect(Array.from(rows[0].tokens)).toEqual([10, 2, 11, 2]);
  });

  it('never drops, reorders or pads a token', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: 3, max: 999 }), { maxLength: 30 }), { maxLength: 20 }), fc.integer({ min: 2, max: 17 }), (docs, seqLen) => {
        const rows = packAll(docs, seqLen);
        const flat = rows.flatMap((r) => Array.from(r.tokens));
        expect(flat).toEqual(docs.flatMap((d) => [1, ...d, 2]));
        rows.slice(0, -1).forEach((r) => expect(r.tokens.length).toBe(seqLen));
        for (const r of rows) {
          expect(r.positions[0]).toBe(0);
          for (let i = 1; i < r.tokens.length; i++) {
            expect(r.positions[i]).toBe(r.tokens[i] === 1 ? 0 : r.positions[i - 1] + 1);
          }
        }
      }),
    );
  });
});
