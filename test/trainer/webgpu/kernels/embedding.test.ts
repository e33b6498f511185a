/** Embedding kernels against tf.gather and its scatter-add gradient (tf.scatterND, as trainer/custom-grads.ts's gatherRows). */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Call } from '../../../../trainer/webgpu/kernel.ts';
import { embeddingBackward, embeddingForward, embeddingSegments } from '../../../../trainer/webgpu/kernels/embedding.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

describe('embeddingSegments', () => {
  it('groups token indices by id, stably', () => {
    const s = embeddingSegments(Int32Array.from([5, 2, 5, 0, 2, 5]));
    expect([...s.order]).toEqual([3, 1, 4, 0, 2, 5]);
    expect([...s.segStart]).toEqual([0, 1, 3, 6]);
    expect([...s.segId]).toEqual([0, 2, 5]);
  });

  it('gives an empty batch no segments', () => {
    const s = embeddingSegments(new Int32Array(0));
    expect([s.order.length, [...s.segStart], s.segId.length]).toEqual([0, [0], 0]);
  });
});

/** Ids with many repeats: most from a few ids, some anywhere in the vocabulary. */
function batchIds(tokens: number, vocab: number, seed: number): Int32Array {
  const r = random(tokens * 2, seed);
  return Int32Array.from({ length: tokens }, (_, i) => Math.floor(((r[2 * i] + 1) / 2) * (r[2 * i + 1] > 0 ? 4 : vocab)));
}

describeGpu('embedding', () => {
  const gpu = softwareGpu!;

  /** Plans and runs the dispatches, failing on any validation error in either. */
  async function run(plan: () => Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(plan());
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  it.each([
    [37, 50, 67],
    [1, 3, 1],
    [64, 200, 300],
  ])('forward gathers rows as tf.gather does, tokens %i vocab %i dim %i', async (tokens, vocab, dim) => {
    const ids = batchIds(tokens, vocab, tokens + dim);
    const ts = random(vocab * dim, vocab, 1);
    const x = gpu.buffer(tokens * dim * 4, 'x');
    await run(() => [embeddingForward(gpu, { tokens, dim }, { ids: gpu.upload(ids, 'ids'), table: gpu.upload(ts, 'table'), x })]);
    const ref = tf.tidy(() => values(tf.gather(tf.tensor2d(ts, [vocab, dim]), tf.tensor1d(ids, 'int32'))));
    expect(relErr(await gpu.readF32(x), ref)).toBeLessThan(TOL);
  });

  it.each([
    [37, 50, 67],
    [1, 3, 1],
    [64, 200, 300],
  ])('backward scatter-adds onto dtable over replayed batches, tokens %i vocab %i dim %i', async (tokens, vocab, dim) => {
    // Buffers sized past this batch: the dispatch is planned for the largest batch.
    const maxTokens = tokens + 9;
    const maxSegments = maxTokens;
    const order = gpu.buffer(maxTokens * 4, 'order');
    const segStart = gpu.buffer((maxSegments + 1) * 4, 'segStart');
    const segId = gpu.buffer(maxSegments * 4, 'segId');
    const segCount = gpu.buffer(4, 'segCount');
    const dx = gpu.buffer(maxTokens * dim * 4, 'dx');
    let expected = random(vocab * dim, 3, 0.5);
    const dtable = gpu.upload(expected, 'dtable');
    gpu.device.pushErrorScope('validation');
    const d = embeddingBackward(gpu, { maxSegments, maxTokens, dim }, { order, segStart, segId, segCount, dx, dtable });
    expect(await gpu.device.popErrorScope()).toBeNull();

    // Two micro-batches: the first with all tokens, the second with fewer and fewer distinct ids,
    // leaving stale segments past segCount that must be ignored.
    for (const [k, n] of [tokens, Math.max(1, tokens - 5)].entries()) {
      const ids = batchIds(n, vocab, 17 + k);
      if (k === 1) ids.fill(ids[0], 0, Math.ceil(n / 2));
      const dxs = random(n * dim, 40 + k, 1);
      const seg = embeddingSegments(ids);
      gpu.write(order, seg.order);
      gpu.write(segStart, seg.segStart);
      gpu.write(segId, seg.segId);
      gpu.write(segCount, Int32Array.of(seg.segId.length));
      gpu.write(dx, dxs);
      await run(() => [d]);
      const start = expected;
      expected = tf.tidy(() => {
        const grad = tf.scatterND(tf.tensor2d(ids, [n, 1], 'int32'), tf.tensor2d(dxs, [n, dim]), [vocab, dim]);
        return values(tf.add(tf.tensor2d(start, [vocab, dim]), grad));
      });
      const got = await gpu.readF32(dtable);
      expect(relErr(got, expected)).toBeLessThan(TOL);
      // Rows of ids absent from the batch are untouched, bit for bit.
      const present = new Set(ids);
      for (let r = 0; r < vocab; r++) {
        if (!present.has(r)) expect(got.subarray(r * dim, (r + 1) * dim)).toEqual(start.subarray(r * dim, (r + 1) * dim));
      }
    }
  });
});
