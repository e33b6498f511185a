/**
 * The chunked cross-entropy kernels against tfjs on cpu: the loss and the per-row log-sum-exp against
 * tf.logSumExp and the gathered target logit, the gradient against tf.grad of the summed loss, with
 * the vocabulary split into chunks the last of which is shorter. The dispatches are planned once and
 * replayed for a second set of logits, as the engine replays them every step; the large (±80) logits,
 * rising from chunk to chunk, make the online log-sum-exp rescale its sum. Rows with a negative target
 * (unscored) add nothing to the loss and get a zero gradient, even with logits whose exp overflows.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../../../trainer/webgpu/runtime.ts';
import { type Buf, type Context, DEFAULT_LIMITS } from '../../../../trainer/webgpu/kernel.ts';
import { ceChunkGrad, ceChunkStats, ceFinish, ceInit } from '../../../../trainer/webgpu/kernels/loss.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

const N = 37;
const V = 1000;
const CHUNK = 256; // chunks of 256, 256, 256 and 232
const SLOT = 1;

/** Plans the engine's sequence once; `step` writes new logits and replays it, returning what it read. */
function plan(gpu: Gpu, targets: Int32Array) {
  const chunks: Array<{ start: number; size: number }> = [];
  for (let start = 0; start < V; start += CHUNK) chunks.push({ start, size: Math.min(CHUNK, V - start) });
  const logits = gpu.buffer(N * CHUNK * 4, 'logits scratch');
  const t = gpu.upload(targets, 'targets');
  const max = gpu.buffer(N * 4, 'max');
  const sum = gpu.buffer(N * 4, 'sum');
  const picked = gpu.buffer(N * 4, 'picked');
  const lse = gpu.buffer(N * 4, 'lse');
  const loss = gpu.buffer(3 * 4, 'loss slots');
  const init = ceInit(gpu, { n: N }, { max, sum, picked });
  const stats = chunks.map((c) => ceChunkStats(gpu, { n: N, chunk: c.size, vocabStart: c.start }, { logits, targets: t, max, sum, picked }));
  const finish = ceFinish(gpu, { n: N, slot: SLOT }, { max, sum, picked, lse, loss });
  const grads = chunks.map((c) => ceChunkGrad(gpu, { n: N, chunk: c.size, vocabStart: c.start }, { logits, targets: t, lse }));

  /** Columns [start, start+size) of the full [N, V] logits, row-major with stride `size`, as the engine's matmul writes them. */
  const slice = (full: Float32Array, c: { start: number; size: number }) => {
    const out = new Float32Array(N * c.size);
    for (let i = 0; i < N; i++) out.set(full.subarray(i * V + c.start, i * V + c.start + c.size), i * c.size);
    return out;
  };

  return async (full: Float32Array) => {
    gpu.run([init]);
    chunks.forEach((c, k) => {
      gpu.write(logits, slice(full, c));
      gpu.run([stats[k]]);
    });
    gpu.run(finish);
    const grad = new Float32Array(N * V);
    for (const [k, c] of chunks.entries()) {
      gpu.write(logits, slice(full, c));
      gpu.run([grads[k]]);
      const g = await gpu.readF32(logits, N * c.size);
      for (let i = 0; i < N; i++) grad.set(g.subarray(i * c.size, (i + 1) * c.size), i * V + c.start);
    }
    return { loss: await gpu.readF32(loss), lse: await gpu.readF32(lse), grad };
  };
}

/** The summed cross-entropy over the scored rows (target ≥ 0); unscored rows have lse 0 and no gradient. */
function reference(full: Float32Array, targets: Int32Array) {
  return tf.tidy(() => {
    const z = tf.tensor2d(full, [N, V]);
    const scored = tf.tensor1d(Float32Array.from(targets, (t) => (t >= 0 ? 1 : 0)));
    const clamped = Int32Array.from(targets, (t) => Math.max(t, 0));
    const pairs = tf.tensor2d(Int32Array.from({ length: 2 * N }, (_, k) => (k % 2 === 0 ? k / 2 : clamped[(k - 1) / 2])), [N, 2], 'int32');
    const lse = tf.mul(tf.logSumExp(z, 1), scored);
    const loss = tf.sum(tf.mul(tf.sub(tf.logSumExp(z, 1), tf.gatherND(z, pairs)), scored));
    const oneHot = tf.oneHot(tf.tensor1d(clamped, 'int32'), V).toFloat();
    const summed = (x: tf.Tensor) => tf.sum(tf.mul(tf.sub(tf.logSumExp(x, 1), tf.sum(tf.mul(x, oneHot), 1)), scored));
    const grad = tf.grad(summed)(z);
    return { loss: values(loss)[0], lse: values(lse).slice(), grad: values(grad).slice() };
  });
}

function targetsFor(seed: number): Int32Array {
  const r = random(N, seed);
  const t = Int32Array.from(r, (x) => Math.min(V - 1, Math.floor(((x + 1) / 2) * V)));
  // Each chunk's edges, the last column of the short last chunk, and unscored rows.
  t.set([0, CHUNK - 1, CHUNK, 3 * CHUNK, V - 1, -1, -100]);
  t[N - 1] = -1;
  return t;
}

describeGpu('chunked cross-entropy', () => {
  const gpu = softwareGpu!;

  it('matches tfjs for the loss, lse and gradient, replayed for large logits that force rescaling', async () => {
    const targets = targetsFor(7);
    const step = plan(gpu, targets);

    const small = random(N * V, 11, 4);
    // ±80 noise on a ramp of 60 across the vocabulary: each chunk's maximum exceeds the last one's.
    const noise = random(N * V, 12, 80);
    const large = Float32Array.from(noise, (x, k) => x + 60 * ((k % V) / V));

    for (const full of [small, large]) {
      const got = await step(full);
      const want = reference(full, targets);
      expect(relErr([got.loss[SLOT]], [want.loss])).toBeLessThan(TOL);
      expect(relErr(got.lse, want.lse)).toBeLessThan(TOL);
      expect(relErr(got.grad, want.grad)).toBeLessThan(TOL);
      // Only its own slot of the loss buffer is written.
      expect([got.loss[0], got.loss[2]]).toEqual([0, 0]);
      // Unscored rows exactly: lse 0 and a zero gradient row.
      for (const i of [5, 6, N - 1]) {
        expect(got.lse[i]).toBe(0);
        expect(got.grad.subarray(i * V, (i + 1) * V).every((g) => g === 0)).toBe(true);
      }
    }
  });
});

describe('chunked cross-entropy planning', () => {
  it('refuses a chunk of zero columns', () => {
    // Planning needs no device, and validation comes before any buffer is looked at.
    const ctx: Context = { limits: DEFAULT_LIMITS };
    const b = null as unknown as Buf;
    expect(() => ceChunkStats(ctx, { n: 4, chunk: 0, vocabStart: 0 }, { logits: b, targets: b, max: b, sum: b, picked: b })).toThrow(/chunk must be a positive integer/);
  });
});
