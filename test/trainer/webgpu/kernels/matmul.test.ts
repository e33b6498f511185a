/**
 * The matmul kernel against tfjs's cpu backend: shapes that are and are not multiples of the tiles
 * (down to 1×1×1, k = 1, m = 1, n = 1, and k = 0), all four transpose combinations, both tilings,
 * the vec4 and scalar paths, alpha and accumulation (also over a replayed dispatch), and the engine's
 * column-chunk use: offsets and strides reading a slice of a wider weight and writing into the middle
 * columns of a wider C, whose other columns must stay untouched. Also which variant a problem gets,
 * and the refusals of arguments the shader would get silently wrong.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { matmul, type MatmulArgs, type MatmulTile, matmulVariant, matmulWith, TILE_128, TILE_64 } from '../../../../trainer/webgpu/kernels/matmul.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

interface Case {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  lda?: number;
  ldb?: number;
  ldc?: number;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  accumulate?: boolean;
  alpha?: number;
  tile?: MatmulTile;
  /** A smaller per-dimension workgroup limit, to fold the grid. */
  maxGroups?: number;
  /** Dispatch this many times (replays accumulate again). */
  times?: number;
}

let seed = 1;

/** A stored row-major matrix [rows, cols] at `offset` with row stride `ld`, in a flat array padded by 5 at the end. */
function stored(rows: number, cols: number, ld: number, offset: number) {
  const data = random(offset + Math.max(0, rows - 1) * ld + cols + 5, seed++);
  // The matrix itself, as tfjs sees it: the strided window over the flat data.
  const window = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) window[r * cols + c] = data[offset + r * ld + c];
  return { data, tensor: tf.tensor2d(window, [rows, cols]) };
}

async function check(c: Case): Promise<void> {
  const gpu = softwareGpu!;
  const transA = c.transA ?? false;
  const transB = c.transB ?? false;
  const lda = c.lda ?? (transA ? c.m : c.k);
  const ldb = c.ldb ?? (transB ? c.k : c.n);
  const ldc = c.ldc ?? c.n;
  const [aOff, bOff, cOff] = [c.aOffset ?? 0, c.bOffset ?? 0, c.cOffset ?? 0];
  const A = transA ? stored(c.k, c.m, lda, aOff) : stored(c.m, c.k, lda, aOff);
  const B = transB ? stored(c.n, c.k, ldb, bOff) : stored(c.k, c.n, ldb, bOff);
  const C0 = stored(c.m, c.n, ldc, cOff);
  const bufs = [gpu.upload(A.data, 'A'), gpu.upload(B.data, 'B'), gpu.upload(C0.data, 'C')];
  const args: MatmulArgs = { ...c, a: bufs[0], b: bufs[1], c: bufs[2] };
  const plain = c.tile === undefined && c.maxGroups === undefined;
  const d = plain ? matmul(gpu, args, 'test') : matmulWith(gpu, args, { tile: c.tile, maxWorkgroupsPerDimension: c.maxGroups }, 'test');
  const times = c.times ?? 1;
  gpu.run(Array.from({ length: times }, () => d));
  const got = await gpu.readF32(bufs[2], C0.data.length);
  for (const b of bufs) gpu.destroy(b);

  // The reference: tfjs's product of the windows, then alpha and accumulation as tf ops.
  const expected = tf.tidy(() => {
    let product = c.k === 0 ? tf.zeros([c.m, c.n]) : tf.matMul(A.tensor, B.tensor, transA, transB);
    product = product.mul(c.alpha ?? 1);
    if (!c.accumulate) return product;
    return C0.tensor.add(product.mul(times));
  });
  const block = values(expected);
  tf.dispose([A.tensor, B.tensor, C0.tensor, expected]);

  const inside = new Float32Array(c.m * c.n);
  for (let r = 0; r < c.m; r++) for (let j = 0; j < c.n; j++) inside[r * c.n + j] = got[cOff + r * ldc + j];
  const name = JSON.stringify({ ...c, tile: c.tile?.bm });
  expect(relErr(inside, block), `C's m×n block, ${name}`).toBeLessThan(TOL);
  // Everything outside the block (the offset, the columns beyond n in each row, the tail) is as it was.
  const outside = (xs: Float32Array) => Array.from(xs).filter((_, i) => !isBlock(i, c, ldc, cOff));
  expect(outside(got), `C outside the block, ${name}`).toEqual(outside(C0.data));
}

function isBlock(i: number, c: Case, ldc: number, cOff: number): boolean {
  const j = i - cOff;
  return j >= 0 && Math.floor(j / ldc) < c.m && j % ldc < c.n;
}

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [3, 5, 7],
  [65, 63, 17],
  [130, 70, 33],
  [64, 64, 64],
  [1, 37, 20],
  [29, 1, 13],
  [40, 36, 1],
  [68, 132, 36],
];
const TRANSPOSES: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
const tag = (t: [boolean, boolean]) => `${t[0] ? 'Aᵀ' : 'A'}·${t[1] ? 'Bᵀ' : 'B'}`;

describe('matmulVariant', () => {
  const buf = {} as GPUBuffer;
  const base = { a: buf, b: buf, c: buf };

  it('takes vec4 paths per operand only where offset, stride and contiguous extent are multiples of 4', () => {
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 64 })).toMatchObject({ vecA: true, vecB: true, vecC: true });
    // Plain A is contiguous along k, transposed A along m.
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 6, lda: 8, ldb: 64 })).toMatchObject({ vecA: false, vecB: true, vecC: true });
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 6, transA: true, transB: true, ldb: 8 })).toMatchObject({ vecA: true, vecB: false });
    expect(matmulVariant({ ...base, m: 8, n: 40, k: 8, bOffset: 36, ldb: 100, cOffset: 36, ldc: 100 })).toMatchObject({ vecB: true, vecC: true });
    expect(matmulVariant({ ...base, m: 8, n: 40, k: 8, bOffset: 37, ldb: 100, cOffset: 2, ldc: 100 })).toMatchObject({ vecB: false, vecC: false });
  });

  it('uses the 128×128 tiling only when there are enough of its tiles to fill a large GPU', () => {
    expect(matmulVariant({ ...base, m: 8192, n: 32064, k: 2048 }).tile).toBe(TILE_128);
    expect(matmulVariant({ ...base, m: 2048, n: 2048, k: 8192, transA: true }).tile).toBe(TILE_128);
    expect(matmulVariant({ ...base, m: 512, n: 512, k: 4096 }).tile).toBe(TILE_64);
    expect(matmulVariant({ ...base, m: 64, n: 65536, k: 64 }).tile).toBe(TILE_64);
  });
});

describeGpu('matmul', () => {
  for (const t of TRANSPOSES) {
    it(`${tag(t)} matches tf.matMul over shapes on and off the 64×64 tile`, async () => {
      for (const [m, n, k] of SHAPES) await check({ m, n, k, transA: t[0], transB: t[1] });
    });

    it(`${tag(t)} matches tf.matMul with the 128×128 tiling`, async () => {
      for (const [m, n, k] of [[130, 70, 33], [132, 260, 20], [3, 5, 7]] as const) {
        await check({ m, n, k, transA: t[0], transB: t[1], tile: TILE_128 });
      }
    });

    it(`${tag(t)} scales by alpha and accumulates into C, again on each replay`, async () => {
      await check({ m: 65, n: 63, k: 17, transA: t[0], transB: t[1], alpha: -0.375, accumulate: true });
      await check({ m: 64, n: 68, k: 40, transA: t[0], transB: t[1], alpha: 2, accumulate: true, times: 2 });
      await check({ m: 70, n: 130, k: 9, transA: t[0], transB: t[1], accumulate: true, tile: TILE_128 });
    });
  }

  it('covers every tile when the grid is folded into two dimensions, spare workgroups doing nothing', async () => {
    // 3×4 = 12 tiles as a 5×3 grid; then 10 tile-rows, more than one L2 group of 8.
    await check({ m: 130, n: 200, k: 12, maxGroups: 5, accumulate: true });
    await check({ m: 130, n: 200, k: 12, transA: true, transB: true, maxGroups: 4, tile: TILE_128 });
    await check({ m: 577, n: 5, k: 3 });
    await check({ m: 577, n: 130, k: 3, transB: true, maxGroups: 7 });
  });

  it('refuses a grid that cannot be folded within the limit', () => {
    const gpu = softwareGpu!;
    const [a, b, c] = [gpu.buffer(4 * 65, 'A'), gpu.buffer(4 * 129, 'B'), gpu.buffer(4 * 65 * 129, 'C')];
    const args = { m: 65, n: 129, k: 1, a, b, c };
    expect(() => matmulWith(gpu, args, { maxWorkgroupsPerDimension: 2 }, 'mm')).toThrow(/mm: 6 tiles of 64×64 are more than 2² workgroups/);
    expect(matmulWith(gpu, args, { maxWorkgroupsPerDimension: 4 }, 'mm').workgroups).toEqual([4, 2, 1]);
    for (const x of [a, b, c]) gpu.destroy(x);
  });

  it('overwrites C without reading it unless accumulating (NaN in C does not leak)', async () => {
    const gpu = softwareGpu!;
    const [m, n, k] = [9, 10, 11];
    const a = random(m * k, 90);
    const b = random(k * n, 91);
    const bufs = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(new Float32Array(m * n).fill(NaN), 'C')];
    gpu.run([matmul(gpu, { m, n, k, a: bufs[0], b: bufs[1], c: bufs[2] })]);
    const got = await gpu.readF32(bufs[2]);
    const want = values(tf.matMul(tf.tensor2d(a, [m, k]), tf.tensor2d(b, [k, n])));
    expect(relErr(got, want)).toBeLessThan(TOL);
    for (const x of bufs) gpu.destroy(x);
  });

  it('k = 0 gives alpha·0, plus C when accumulating', async () => {
    await check({ m: 5, n: 6, k: 0 });
    await check({ m: 5, n: 6, k: 0, accumulate: true });
  });

  it('m = 0 or n = 0 dispatches nothing and leaves C alone', async () => {
    await check({ m: 0, n: 6, k: 3 });
    await check({ m: 4, n: 0, k: 3, ldc: 2 });
  });

  // The engine's LM-head chunking: W is [H, V], a chunk is its columns c0 … c0 + n.
  describe('on a column chunk of a wider matrix', () => {
    const H = 24;
    const V = 100;
    const N = 10;
    for (const [c0, n, path] of [
      [36, 40, 'vec4'],
      [37, 41, 'scalar'],
    ] as const) {
      it(`forward logits[:, c0:] = X·W[:, c0:] (${path})`, async () => {
        await check({ m: N, n, k: H, bOffset: c0, ldb: V, cOffset: c0, ldc: V });
      });

      it(`dX += dY[:, c0:]·W[:, c0:]ᵀ (${path})`, async () => {
        await check({ m: N, n: H, k: n, transB: true, aOffset: c0, lda: V, bOffset: c0, ldb: V, accumulate: true });
      });

      it(`dW[:, c0:] += Xᵀ·dY[:, c0:] (${path})`, async () => {
        await check({ m: H, n, k: N, transA: true, bOffset: c0, ldb: V, cOffset: c0, ldc: V, accumulate: true });
        await check({ m: H, n, k: N, transA: true, bOffset: c0, ldb: V, cOffset: c0, ldc: V, accumulate: true, tile: TILE_128 });
      });
    }

    it('with padded strides on every operand and both transposes', async () => {
      for (const t of TRANSPOSES) {
        await check({ m: 33, n: 29, k: 18, transA: t[0], transB: t[1], lda: 41, ldb: 37, ldc: 45, aOffset: 3, bOffset: 7, cOffset: 5, alpha: 0.5, accumulate: true });
        await check({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 8, cOffset: 12, alpha: 1.5 });
        // Strides and extents on the vec4 grid but offsets off it: each operand must fall back alone.
        await check({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 2, bOffset: 8, cOffset: 12 });
        await check({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 6, cOffset: 12 });
        await check({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 8, cOffset: 10, accumulate: true });
      }
    });
  });

  it('refuses buffers too short, strides narrower than a row, and C aliasing an operand', () => {
    const gpu = softwareGpu!;
    const a = gpu.buffer(4 * 12, 'A');
    const b = gpu.buffer(4 * 12, 'B');
    const c = gpu.buffer(4 * 9, 'C');
    expect(() => matmul(gpu, { m: 3, n: 3, k: 4, a, b, c }, 'mm')).not.toThrow();
    expect(() => matmul(gpu, { m: 3, n: 3, k: 4, a, b, c, aOffset: 1 }, 'mm')).toThrow(/mm: A needs 52 bytes, its buffer has 48/);
    expect(() => matmul(gpu, { m: 3, n: 3, k: 4, a, b, c, ldc: 2 }, 'mm')).toThrow(/C has rows of 3 but a stride of 2/);
    expect(() => matmul(gpu, { m: 3, n: 3, k: 4, a, b, c: a }, 'mm')).toThrow(/C is the same buffer as an operand/);
    expect(() => matmul(gpu, { m: 3.5, n: 3, k: 4, a, b, c }, 'mm')).toThrow(/m = 3.5 is not a u32/);
    for (const x of [a, b, c]) gpu.destroy(x);
  });
});
