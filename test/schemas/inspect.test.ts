import { describe, expect, it } from 'vitest';
import { InspectArgsSchema } from '../../schemas/inspect.ts';

describe('InspectArgsSchema', () => {
  it('reads --row, or --rows A..B and A.. as the first and last row', () => {
    expect(InspectArgsSchema.parse({ dir: 'd' })).toMatchObject({ row: 0, last: undefined });
    expect(InspectArgsSchema.parse({ dir: 'd', row: 4, limit: 2 })).toMatchObject({ row: 4, last: undefined, limit: 2 });
    expect(InspectArgsSchema.parse({ dir: 'd', rows: '3..7' })).toMatchObject({ row: 3, last: 7 });
    expect(InspectArgsSchema.parse({ dir: 'd', rows: '10..' })).toMatchObject({ row: 10, last: null });
  });

  it('refuses a malformed range, --row with --rows, and a zero --limit', () => {
    for (const bad of [{ rows: '3-7' }, { rows: '..7' }, { rows: 'a..b' }, { row: 1, rows: '2..3' }, { limit: 0 }]) {
      expect(InspectArgsSchema.safeParse({ dir: 'd', ...bad }).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
