/**
 * A micro-batch as the WebGPU engine's kernels take it, computed on the host: of the plan's fixed
 * shape (so one plan serves every step), with each token's document bounds, its scored target, and
 * the tokens grouped by id for the embedding's scatter-add.
 *
 * Pure; covered by test/trainer/webgpu/batch.test.ts.
 */
import { IGNORE_INDEX } from '../../core/constants.ts';
import type { Batch } from '../data.ts';
import { embeddingSegments } from './kernels/embedding.ts';

export interface KernelBatch {
  rows: number;
  length: number;
  ids: Int32Array;
  positions: Int32Array;
  /** Row-local index of the first and last token of each token's document. */
  docStart: Int32Array;
  docEnd: Int32Array;
  /** The label token t is scored against (labels[t + 1] within its row), or -1. */
  targets: Int32Array;
  /** Scored targets. */
  count: number;
  /** Token indices sorted by id, segment starts (one segment per distinct id, plus the end) and the segments' ids. */
  order: Int32Array;
  segStart: Int32Array;
  segId: Int32Array;
  segments: number;
}

/**
 * `batch`, which the loader has already padded to the plan's shape (padding tokens are id 0 at
 * position 0, each its own one-token document, with nothing scored, so they change no loss and no
 * gradient), with what the kernels need beside it. Its arrays are used as they are, not copied.
 */
export function kernelBatch(batch: Batch): KernelBatch {
  const { rows, length } = batch;
  const n = rows * length;
  const { inputIds: ids, positionIds: positions, labels } = batch;
  const docStart = new Int32Array(n);
  const docEnd = new Int32Array(n);
  const targets = new Int32Array(n).fill(-1);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * length;
    // A document starts wherever the position is 0, as the reference model's attention mask reads it.
    let start = 0;
    for (let i = 0; i < length; i++) {
      if (i > 0 && positions[base + i] === 0) start = i;
      docStart[base + i] = start;
    }
    let end = length - 1;
    for (let i = length - 1; i >= 0; i--) {
      docEnd[base + i] = end;
      if (positions[base + i] === 0) end = i - 1;
    }
    for (let i = 0; i + 1 < length; i++) {
      const y = labels[base + i + 1];
      if (y !== IGNORE_INDEX) {
        targets[base + i] = y;
        count++;
      }
    }
  }
  const { order, segStart, segId } = embeddingSegments(ids);
  return { rows, length, ids, positions, docStart, docEnd, targets, count, order, segStart, segId, segments: segId.length };
}
