/** A micro-batch as the kernels take it: document bounds, scored targets, tokens grouped by id; padded once, by the loader. */
import { expect, it } from 'vitest';
import { IGNORE_INDEX } from '../../../core/constants.ts';
import type { Batch } from '../../../trainer/data.ts';
import { Loader, openDatasets } from '../../../trainer/data.ts';
import { kernelBatch } from '../../../trainer/webgpu/batch.ts';
import { llama2, meap, slimpajama, tempDir } from '../../helpers/cli.ts';

it('finds each token’s document from the position restarts, and scores t against labels[t + 1] within its row', () => {
  const X = IGNORE_INDEX;
  const batch: Batch = {
    rows: 2,
    length: 5,
    inputIds: Int32Array.of(1, 5, 6, 1, 7, 1, 8, 9, 0, 0),
    positionIds: Int32Array.of(0, 1, 2, 0, 1, 0, 1, 2, 0, 0),
    labels: Int32Array.of(X, 5, 6, X, 7, X, 8, 9, X, X),
  };
  const k = kernelBatch(batch);
  expect([...k.docStart]).toEqual([0, 0, 0, 3, 3, 0, 0, 0, 3, 4]);
  expect([...k.docEnd]).toEqual([2, 2, 2, 4, 4, 2, 2, 2, 3, 4]);
  expect([...k.targets]).toEqual([5, 6, -1, 7, -1, 8, 9, -1, -1, -1]);
  expect(k.count).toBe(5);
  // The arrays are the loader's, not copies.
  expect(k.ids).toBe(batch.inputIds);
  // Tokens grouped by id: every token once, segments by distinct id.
  expect([...k.order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(k.segments).toBe(new Set(batch.inputIds).size);
});

it('the loader pads a short micro-batch to the planned shape in one pass, padding scoring nothing', async () => {
  const out = tempDir();
  const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '-o', out, '-t', llama2, '--seq-len', '64', '--limit', '4', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
  const ds = await openDatasets([out]);
  const plain = await new Loader(ds, { seed: 0 }).next(1);
  const padded = await new Loader(ds, { seed: 0 }).next(1, { rows: 3, length: 80 });
  expect([padded.rows, padded.length]).toEqual([3, 80]);
  expect(padded.inputIds.subarray(0, plain.length)).toEqual(plain.inputIds);
  expect(kernelBatch(padded).count).toBe(kernelBatch(plain).count);
  await expect(new Loader(ds, { seed: 0 }).next(2, { rows: 1, length: 80 })).rejects.toThrow(/do not fit 1 × 80/);
});
