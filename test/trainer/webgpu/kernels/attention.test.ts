/**
 * Flash attention kernels against the masked softmax attention of trainer/model.ts (scores + −1e9 off
 * the causal, same-document pattern, softmax, times v; query head h reading KV head floor(h / rep)),
 * built from tf ops on tfjs's cpu backend, with gradients from tf.grads. Shapes cover several
 * documents per row (boundaries inside and across 64-query blocks), one-token documents, GQA, MHA,
 * and headDims 8 to 64, whose tiles differ (32 and 16 keys) and whose lengths leave partial tiles and
 * partial 64-token blocks. (headDim 128, 8-key tiles, passes too; its llvmpipe compile alone takes
 * half a minute, so it is left out.)
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import type { Dispatch } from '../../../../trainer/webgpu/gpu.ts';
import { type AttentionShape, attentionBackward, attentionForward } from '../../../../trainer/webgpu/kernels/attention.ts';
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
];

describeGpu('attention', () => {
  const gpu = softwareGpu!;

  async function run(dispatches: Dispatch[]): Promise<void> {
    gpu.device.pushErrorScope('validation');
    gpu.run(dispatches);
    expect(await gpu.device.popErrorScope()).toBeNull();
  }

  it.each(CASES)('forward and backward match the reference: $name', async ({ shape, starts }) => {
    const { rows, length, heads, kvHeads, headDim } = shape;
    const n = rows * length;
    const pos = positionsOf(length, starts);
    const { docStart, docEnd } = documents(pos, length);
    const seed = length * 7 + headDim;
    const qs = random(n * heads * headDim, seed + 1);
    const ks = random(n * kvHeads * headDim, seed + 2);
    const vs = random(n * kvHeads * headDim, seed + 3);
    const dOs = random(n * heads * headDim, seed + 4);
    const ref = reference(shape, pos, qs, ks, vs, dOs);

    const buf = {
      q: gpu.upload(qs, 'q'),
      k: gpu.upload(ks, 'k'),
      v: gpu.upload(vs, 'v'),
      docStart: gpu.upload(docStart, 'docStart'),
      docEnd: gpu.upload(docEnd, 'docEnd'),
      o: gpu.buffer(n * heads * headDim * 4, 'o'),
      lse: gpu.buffer(n * heads * 4, 'lse'),
      dO: gpu.upload(dOs, 'dO'),
      // Garbage in the outputs and scratch: they must be overwritten, not accumulated into.
      dq: gpu.upload(random(n * heads * headDim, 5, 9), 'dq'),
      dk: gpu.upload(random(n * kvHeads * headDim, 6, 9), 'dk'),
      dv: gpu.upload(random(n * kvHeads * headDim, 7, 9), 'dv'),
      delta: gpu.upload(random(n * heads, 8, 9), 'delta'),
    };
    const step = [...attentionForward(gpu, shape, buf), ...attentionBackward(gpu, shape, buf)];
    await run(step);
    const got = { o: await gpu.readF32(buf.o), lse: await gpu.readF32(buf.lse), dq: await gpu.readF32(buf.dq), dk: await gpu.readF32(buf.dk), dv: await gpu.readF32(buf.dv) };
    for (const key of ['o', 'lse', 'dq', 'dk', 'dv'] as const) {
      expect(relErr(got[key], ref[key]), key).toBeLessThan(TOL);
    }

    // Replayed, the step gives the same bits.
    await run(step);
    expect(await gpu.readF32(buf.dk)).toEqual(got.dk);
    expect(await gpu.readF32(buf.dq)).toEqual(got.dq);
    for (const b of Object.values(buf)) gpu.destroy(b);
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
