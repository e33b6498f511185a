/**
 * Flash attention kernels against the masked softmax attention of trainer/model.ts (scores + −1e9 off
 * the causal, same-document pattern, softmax, times v; query head h reading KV head floor(h / rep)),
 * built from tf ops on tfjs's cpu backend, with gradients from tf.grads. Shapes cover several
 * documents per row (boundaries inside and across 64-query blocks and the key pass's key blocks and
 * 8-query tiles), one-token documents, GQA, MHA, headDims 8 to 128 (1 to 8 slices per key in the key
 * pass) and 20 (an odd number of vec4s, which the key pass pads), and lengths that divide none of the
 * block sizes. The backward's scratch starts as NaN, so a read of anything it did not write shows.
 * Replays, and backwards cut into chunks of rows or of query heads (for a smaller storage binding),
 * give the same bits. A pure test pins the planned FLOPs at the 100m model's shape.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { type Buf, type Call, type Context, DEFAULT_LIMITS } from '../../../../trainer/webgpu/kernel.ts';
import { type AttentionShape, attentionBackward, attentionBackwardScratchFloats, attentionForward } from '../../../../trainer/webgpu/kernels/attention.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

const MASKED = -1e9;

/** position_ids for rows whose documents start at the given row-local indices (0 always among them). */
function positionsOf(length: number, starts: number[][]): Int32Array {
  const pos = new Int32Array(starts.length * length);
  starts.forEach((s, r) => {
    let p = 0;
    for (let i = 0; i < length; i++) {
      p = s.includes(i) ? 0 : p + 1;
      pos[r * length + i] = p;
    }
  });
  return pos;
}

/** Each token's row-local first and last index of its document: a document starts where position is 0. */
function documents(pos: Int32Array, length: number): { docStart: Int32Array; docEnd: Int32Array } {
  const docStart = new Int32Array(pos.length);
  const docEnd = new Int32Array(pos.length);
  for (let r = 0; r < pos.length / length; r++) {
    let start = 0;
    for (let i = 0; i < length; i++) {
      if (pos[r * length + i] === 0) start = i;
      docStart[r * length + i] = start;
    }
    let end = length - 1;
    for (let i = length - 1; i >= 0; i--) {
      docEnd[r * length + i] = end;
      if (pos[r * length + i] === 0) end = i - 1;
    }
  }
  return { docStart, docEnd };
}

/** model.ts's mask: [rows, 1, length, length], MASKED wherever j > i or j is in another document. */
function maskOf(pos: Int32Array, rows: number, length: number): tf.Tensor4D {
  const mask = new Float32Array(rows * length * length);
  const seg = new Int32Array(length);
  for (let r = 0; r < rows; r++) {
    let count = 0;
    for (let i = 0; i < length; i++) {
      if (pos[r * length + i] === 0) count++;
      seg[i] = count;
    }
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < length; j++) if (j > i || seg[j] !== seg[i]) mask[(r * length + i) * length + j] = MASKED;
    }
  }
  return tf.tensor4d(mask, [rows, 1, length, length]);
}

interface Reference {
  o: Float32Array;
  lse: Float32Array;
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

function reference(s: AttentionShape, pos: Int32Array, qs: Float32Array, ks: Float32Array, vs: Float32Array, dOs: Float32Array): Reference {
  return tf.tidy(() => {
    const { rows: b, length: t, heads, kvHeads, headDim: d } = s;
    const mask = maskOf(pos, b, t);
    const group = tf.tensor1d(
      Array.from({ length: heads }, (_, h) => Math.floor(h / (heads / kvHeads))),
      'int32',
    );
    // [N, n·d] → [b, n, t, d], K and V repeated to every query head of their group.
    const perHead = (x: tf.Tensor, n: number, repeat: boolean) => {
      const x4 = tf.reshape(x, [b, t, n, d]);
      return tf.transpose(repeat ? tf.gather(x4, group, 2) : x4, [0, 2, 1, 3]);
    };
    const scoresOf = (q: tf.Tensor, k: tf.Tensor) => tf.add(tf.matMul(perHead(q, heads, false), perHead(k, kvHeads, true), false, true), mask);
    const attend = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
      const out = tf.matMul(tf.softmax(scoresOf(q, k)), perHead(v, kvHeads, true));
      return tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b * t, heads * d]);
    };
    const q = tf.tensor2d(qs, [b * t, heads * d]);
    const k = tf.tensor2d(ks, [b * t, kvHeads * d]);
    const v = tf.tensor2d(vs, [b * t, kvHeads * d]);
    const lse = tf.transpose(tf.logSumExp(scoresOf(q, k), -1), [0, 2, 1]);
    const [dq, dk, dv] = tf.grads((a, bb, c) => attend(a, bb, c))([q, k, v], tf.tensor2d(dOs, [b * t, heads * d]));
    return { o: values(attend(q, k, v)), lse: values(lse), dq: values(dq), dk: values(dk), dv: values(dv) };
  });
}

interface Case {
  name: string;
  shape: AttentionShape;
  /** Per row, where documents start. */
  starts: number[][];
}

const CASES: Case[] = [
  // A one-token document at 13, a document straddling the 64-query block boundary, and a row of one document.
  { name: 'GQA 4/2, headDim 16, two blocks', shape: { rows: 2, length: 90, heads: 4, kvHeads: 2, headDim: 16 }, starts: [[0, 13, 14, 60], [0]] },
  { name: 'GQA 4/1, headDim 32', shape: { rows: 1, length: 70, heads: 4, kvHeads: 1, headDim: 32 }, starts: [[0, 5, 40]] },
  { name: 'MHA 3/3, headDim 16, one-token document last', shape: { rows: 2, length: 45, heads: 3, kvHeads: 3, headDim: 16 }, starts: [[0, 20], [0, 44]] },
  { name: 'headDim 8, length 37, three rows', shape: { rows: 3, length: 37, heads: 2, kvHeads: 1, headDim: 8 }, starts: [[0], [0, 1, 2, 3], [0, 17, 36]] },
  { name: 'headDim 64 (16-key tiles)', shape: { rows: 1, length: 66, heads: 2, kvHeads: 1, headDim: 64 }, starts: [[0, 30]] },
  // The 100m model's head shape: 16-key blocks of 4 slices; documents end inside key blocks and query tiles.
  { name: 'GQA 6/2, headDim 64, four documents', shape: { rows: 1, length: 83, heads: 6, kvHeads: 2, headDim: 64 }, starts: [[0, 11, 12, 45]] },
  // 5 vec4s: 2 slices of 3, one padded; 32-key blocks.
  { name: 'GQA 6/2, headDim 20, length 75', shape: { rows: 2, length: 75, heads: 6, kvHeads: 2, headDim: 20 }, starts: [[0, 7, 8, 50], [0, 70]] },
  // The largest headDim: 8 slices of 4, 8-key blocks, 8-key tiles.
  { name: 'headDim 128', shape: { rows: 1, length: 41, heads: 2, kvHeads: 1, headDim: 128 }, starts: [[0, 19]] },
];

interface Inputs {
  shape: AttentionShape;
  buf: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; docStart: GPUBuffer; docEnd: GPUBuffer; o: GPUBuffer; lse: GPUBuffer; dO: GPUBuffer; dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer };
  host: { pos: Int32Array; qs: Float32Array; ks: Float32Array; vs: Float32Array; dOs: Float32Array };
}

/** The sizes the test's context allows one storage binding, the adapter's other limits. */
const limited = (ctx: Context, maxStorageBufferBindingSize: number): Context => ({
  limits: { maxComputeWorkgroupsPerDimension: ctx.limits.maxComputeWorkgroupsPerDimension, maxBufferSize: ctx.limits.maxBufferSize, maxStorageBufferBindingSize },
});

describeGpu('attention', () => {
  const gpu = softwareGpu!;

  async function run(calls: Call[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(calls);
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  function inputs({ shape, starts }: Case): Inputs {
    const { rows, length, heads, kvHeads, headDim } = shape;
    const n = rows * length;
    const pos = positionsOf(length, starts);
    const { docStart, docEnd } = documents(pos, length);
    const seed = length * 7 + headDim;
    const host = { pos, qs: random(n * heads * headDim, seed + 1), ks: random(n * kvHeads * headDim, seed + 2), vs: random(n * kvHeads * headDim, seed + 3), dOs: random(n * heads * headDim, seed + 4) };
    const buf = {
      q: gpu.upload(host.qs, 'q'),
      k: gpu.upload(host.ks, 'k'),
      v: gpu.upload(host.vs, 'v'),
      docStart: gpu.upload(docStart, 'docStart'),
      docEnd: gpu.upload(docEnd, 'docEnd'),
      o: gpu.buffer(n * heads * headDim * 4, 'o'),
      lse: gpu.buffer(n * heads * 4, 'lse'),
      dO: gpu.upload(host.dOs, 'dO'),
      // Garbage in the outputs: they must be overwritten, not accumulated into.
      dq: gpu.upload(random(n * heads * headDim, 5, 9), 'dq'),
      dk: gpu.upload(random(n * kvHeads * headDim, 6, 9), 'dk'),
      dv: gpu.upload(random(n * kvHeads * headDim, 7, 9), 'dv'),
    };
    return { shape, buf, host };
  }

  /** The forward and backward calls with a NaN-filled scratch of the size `ctx` asks for. */
  function step(ctx: Context, { shape, buf }: Inputs): { calls: Call[]; scratch: GPUBuffer } {
    const scratch = gpu.upload(new Float32Array(attentionBackwardScratchFloats(ctx, shape)).fill(Number.NaN), 'scratch');
    return { calls: [...attentionForward(ctx, shape, buf), ...attentionBackward(ctx, shape, { ...buf, scratch })], scratch };
  }

  const grads = async ({ buf }: Inputs) => ({ dq: await gpu.readF32(buf.dq), dk: await gpu.readF32(buf.dk), dv: await gpu.readF32(buf.dv) });

  it.each(CASES)('forward and backward match the reference: $name', async (c) => {
    const x = inputs(c);
    const { pos, qs, ks, vs, dOs } = x.host;
    const ref = reference(c.shape, pos, qs, ks, vs, dOs);
    const { calls, scratch } = step(gpu, x);
    await run(calls);
    const got = { o: await gpu.readF32(x.buf.o), lse: await gpu.readF32(x.buf.lse), ...(await grads(x)) };
    for (const key of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
      expect(relErr(got[key], ref[key]), key).toBeLessThan(TOL);
    }

    // Replayed, the step gives the same bits.
    await run(calls);
    expect(await grads(x)).toEqual({ dq: got.dq, dk: got.dk, dv: got.dv });
    for (const b of [...Object.values(x.buf), scratch]) gpu.destroy(b);
  });

  it('gives the same bits with the backward cut into chunks of rows, or of a KV head\'s query heads', async () => {
    const c = CASES.find((x) => x.shape.headDim === 20)!;
    const { rows, length, heads } = c.shape;
    const x = inputs(c);
    const whole = step(gpu, x);
    expect(whole.calls).toHaveLength(1 + 3);
    await run(whole.calls);
    const want = await grads(x);
    // The scratch is the pairs (2 floats per token and head), then dS of each (row, head) of a chunk.
    const pairs = 2 * rows * length * heads;
    const unit = (attentionBackwardScratchFloats(gpu, c.shape) - pairs) / (rows * heads);
    // A row per chunk; then a head per chunk (rep 3: heads 1 and 2 of a group go on from head 0's dk and dv).
    for (const [floats, count] of [
      [pairs + heads * unit, rows],
      [pairs + unit, rows * heads],
    ]) {
      const ctx = limited(gpu, 4 * floats);
      const chunked = step(ctx, x);
      expect(chunked.calls).toHaveLength(1 + 1 + 2 * count);
      expect(attentionBackwardScratchFloats(ctx, c.shape)).toBe(floats);
      await run(chunked.calls);
      expect(await grads(x)).toEqual(want);
      gpu.destroy(chunked.scratch);
    }
    for (const b of [...Object.values(x.buf), whole.scratch]) gpu.destroy(b);
  });

  it('refuses shapes it cannot run, naming the field', () => {
    const b = gpu.buffer(4, 'b');
    const buf = { q: b, k: b, v: b, docStart: b, o: b, lse: b };
    const shape = { rows: 1, length: 8, heads: 4, kvHeads: 2, headDim: 16 };
    expect(() => attentionForward(gpu, { ...shape, headDim: 6 }, buf)).toThrow(/headDim 6 must be a multiple of 4/);
    expect(() => attentionForward(gpu, { ...shape, headDim: 256 }, buf)).toThrow(/at most 128/);
    expect(() => attentionForward(gpu, { ...shape, kvHeads: 3 }, buf)).toThrow(/heads 4 is not a multiple of kvHeads 3/);
    expect(() => attentionForward(gpu, { ...shape, length: 0 }, buf)).toThrow(/length 0 is not a positive integer/);
    gpu.destroy(b);
  });
});

describe('attention plan', () => {
  const ctx: Context = { limits: DEFAULT_LIMITS };
  const buf = (floats: number): Buf => ({ label: 'b', size: 4 * floats });
  const sum = (calls: Call[]) => calls.reduce((a, c) => a + c.cost.flops, 0);

  it('executes at most 5/2 of the forward in the backward at the 100m shape, the forward within 5% of its 2 products', () => {
    const s = { rows: 8, length: 1024, heads: 12, kvHeads: 2, headDim: 64 };
    const { rows, length: T, heads, headDim } = s;
    const floats = attentionBackwardScratchFloats(ctx, s);
    expect(floats * 4).toBeLessThanOrEqual(DEFAULT_LIMITS.maxStorageBufferBindingSize);
    const b = buf(1);
    const forward = sum(attentionForward(ctx, s, { q: b, k: b, v: b, docStart: b, o: b, lse: b }));
    const backward = sum(attentionBackward(ctx, s, { q: b, k: b, v: b, docStart: b, docEnd: b, o: b, lse: b, dO: b, dq: b, dk: b, dv: b, scratch: buf(floats) }));
    // The model's count: 2 products of headDim multiply-adds per (query, key ≤ query).
    const model = 2 * 2 * headDim * rows * heads * ((T * (T + 1)) / 2);
    expect(forward).toBeGreaterThanOrEqual(model);
    expect(forward).toBeLessThanOrEqual(1.05 * model);
    expect(backward).toBeLessThanOrEqual((5 / 2) * forward * 1.05);
  });

  it('refuses a backward without room for its scratch', () => {
    const b = buf(1);
    const s = { rows: 1, length: 64, heads: 2, kvHeads: 1, headDim: 16 };
    expect(() => attentionBackward(ctx, s, { q: b, k: b, v: b, docStart: b, docEnd: b, o: b, lse: b, dO: b, dq: b, dk: b, dv: b })).toThrow(/scratch must hold/);
    // One head's dS of an 8192-token row is 138 MB, past the 128 MiB binding.
    expect(() => attentionBackwardScratchFloats(ctx, { ...s, length: 8192 })).toThrow(/more than one storage binding/);
  });
});
