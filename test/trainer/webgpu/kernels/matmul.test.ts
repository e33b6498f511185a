/**
 * The matmul kernel against tfjs's cpu backend: shapes that are and are not multiples of the tiles
 * (down to 1×1×1, k = 1, m = 1, n = 1, and k = 0), all four transpose combinations, both tilings,
 * the vec4 and scalar paths, alpha and accumulation (also over a replayed dispatch), and the engine's
 * column-chunk use: offsets and strides reading a slice of a wider weight and writing into the middle
 * columns of a wider C, whose other columns must stay untouched. Also which variant a problem gets,
 * and the refusals of arguments the shader would get silently wrong.
 *
 * The mixed-precision mode over the same ground, against references in doubles: one from the inputs
 * rounded to f16 (which it must match as closely as f32 accumulation allows) and one from the inputs
 * as they are (which it must match within f16's input error, and be clearly further from: the
 * rounding really happens).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  matmul,
  type MatmulArgs,
  type MatmulPrecision,
  type MatmulTile,
  matmulVariant,
  matmulWgsl,
  matmulWith,
  TILE_128,
  TILE_128_MIXED,
  TILE_64,
  TILE_64_MIXED,
} from '../../../../trainer/webgpu/kernels/matmul.ts';
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
  precision?: MatmulPrecision;
}

let seed = 1;

type Stored = ReturnType<typeof stored>;

/** A stored row-major matrix [rows, cols] at `offset` with row stride `ld`, in a flat array padded by 5 at the end. */
function stored(rows: number, cols: number, ld: number, offset: number) {
  const data = random(offset + Math.max(0, rows - 1) * ld + cols + 5, seed++);
  // The matrix itself, as tfjs sees it: the strided window over the flat data.
  const window = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) window[r * cols + c] = data[offset + r * ld + c];
  return { data, window, rows, cols };
}

async function check(c: Case): Promise<void> {
  const { A, B, C0, got, ldc, cOff, times, transA, transB } = await runCase(c);

  // The reference: tfjs's product of the windows, then alpha and accumulation as tf ops.
  const tensor = (x: Stored) => tf.tensor2d(x.window, [x.rows, x.cols]);
  const expected = tf.tidy(() => {
    let product = c.k === 0 ? tf.zeros([c.m, c.n]) : tf.matMul(tensor(A), tensor(B), transA, transB);
    product = product.mul(c.alpha ?? 1);
    if (!c.accumulate) return product;
    return tensor(C0).add(product.mul(times));
  });
  const block = values(expected);
  tf.dispose(expected);

  const name = JSON.stringify({ ...c, tile: c.tile?.bm });
  expect(relErr(inBlock(got, c, ldc, cOff), block), `C's m×n block, ${name}`).toBeLessThan(TOL);
  expectOutsideKept(got, C0.data, c, ldc, cOff, name);
}

/** Uploads a case's operands, runs its dispatch `times` times, and reads C back. */
async function runCase(c: Case) {
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
  return { A, B, C0, got, ldc, cOff, times, transA, transB };
}

/** C's m×n block out of the whole read-back buffer. */
function inBlock(got: Float32Array, c: Case, ldc: number, cOff: number): Float32Array {
  const inside = new Float32Array(c.m * c.n);
  for (let r = 0; r < c.m; r++) for (let j = 0; j < c.n; j++) inside[r * c.n + j] = got[cOff + r * ldc + j];
  return inside;
}

/** Everything outside the block (the offset, the columns beyond n in each row, the tail) is as it was. */
function expectOutsideKept(got: Float32Array, before: Float32Array, c: Case, ldc: number, cOff: number, name: string): void {
  const outside = (xs: Float32Array) => Array.from(xs).filter((_, i) => !isBlock(i, c, ldc, cOff));
  expect(outside(got), `C outside the block, ${name}`).toEqual(outside(before));
}

function isBlock(i: number, c: Case, ldc: number, cOff: number): boolean {
  const j = i - cOff;
  return j >= 0 && Math.floor(j / ldc) < c.m && j % ldc < c.n;
}

/**
 * The nearest IEEE half to x, ties to even, subnormals kept (Math.fround is f32, and Node 20 has no
 * Math.f16round): a multiple of the half-precision ulp at x's binade, which division by a power of 2
 * leaves exact in doubles.
 */
function f16round(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const q = a / ulp;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r--;
  return Math.sign(x) * r * ulp;
}

/** alpha·op(A)·op(B) (+ times·… on C) in doubles, from the operands' values passed through `round`. */
function reference(c: Case, A: Stored, B: Stored, C0: Stored, times: number, round: (x: number) => number): Float64Array {
  const a = Float64Array.from(A.window, round);
  const b = Float64Array.from(B.window, round);
  const out = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let sum = 0;
      for (let p = 0; p < c.k; p++) sum += (c.transA ? a[p * c.m + i] : a[i * c.k + p]) * (c.transB ? b[j * c.k + p] : b[p * c.n + j]);
      out[i * c.n + j] = (c.accumulate ? C0.window[i * c.n + j] : 0) + times * (c.alpha ?? 1) * sum;
    }
  }
  return out;
}

/** Within f16's input error of the exact product (2⁻¹¹ per operand, relative). */
const MIXED_VS_F32 = 2e-3;

async function checkMixed(c: Case): Promise<void> {
  const mc: Case = { ...c, precision: 'mixed' };
  const { A, B, C0, got, ldc, cOff, times } = await runCase(mc);
  const inside = inBlock(got, mc, ldc, cOff);
  const rounded = reference(mc, A, B, C0, times, f16round);
  const exact = reference(mc, A, B, C0, times, (x) => x);
  const name = JSON.stringify({ ...mc, tile: mc.tile?.bm });
  const errRounded = relErr(inside, rounded);
  expect(errRounded, `C's m×n block against f16-rounded inputs, ${name}`).toBeLessThan(TOL);
  expect(relErr(inside, exact), `C's m×n block against the exact product, ${name}`).toBeLessThan(MIXED_VS_F32);
  // Where rounding the inputs moves the answer at all, the result must sit an order of magnitude
  // closer to the rounded reference than that move: an f32 product would not.
  const moved = relErr(rounded, exact);
  if (moved > 0) expect(errRounded, `rounding the inputs moved C by ${moved}, ${name}`).toBeLessThan(moved / 10);
  expectOutsideKept(got, C0.data, mc, ldc, cOff, name);
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

  it('reports the precision, f32 unless asked, and gives mixed precision its deeper tiles', () => {
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 64 }).precision).toBe('f32');
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 64, precision: 'f32' })).toMatchObject({ precision: 'f32', tile: TILE_64 });
    expect(matmulVariant({ ...base, m: 64, n: 64, k: 64, precision: 'mixed' })).toMatchObject({ precision: 'mixed', tile: TILE_64_MIXED });
    expect(matmulVariant({ ...base, m: 8192, n: 32064, k: 2048, precision: 'mixed' })).toMatchObject({ precision: 'mixed', tile: TILE_128_MIXED });
    expect(matmulVariant({ ...base, m: 8, n: 37, k: 5, precision: 'mixed' })).toMatchObject({ vecA: false, vecB: false, vecC: false });
    expect(TILE_64_MIXED.bk).toBe(2 * TILE_64.bk);
    expect(TILE_128_MIXED.bk).toBe(2 * TILE_128.bk);
  });
});

describe('f16round (the mixed references)', () => {
  it('rounds to the nearest half, ties to even, through the subnormals and to infinity past the top', () => {
    expect(f16round(0.1)).toBe(0.0999755859375);
    expect(f16round(-1 / 3)).toBe(-0.333251953125);
    expect(f16round(1 + 2 ** -11)).toBe(1);
    expect(f16round(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(f16round(1 - 2 ** -12)).toBe(1);
    expect(f16round(1 - 3 * 2 ** -12)).toBe(1 - 2 ** -10);
    expect(f16round(2 - 2 ** -12)).toBe(2);
    expect(f16round(65504)).toBe(65504);
    expect(f16round(65519)).toBe(65504);
    expect(f16round(65520)).toBe(Infinity);
    expect(f16round(2 ** -14 + 2 ** -25)).toBe(2 ** -14);
    expect(f16round(3 * 2 ** -25)).toBe(2 ** -23);
    expect(f16round(2 ** -25)).toBe(0);
    expect(f16round(-(2 ** -25) * 1.5)).toBe(-(2 ** -24));
  });
});

describe('matmulWgsl', () => {
  const variants = (precision: MatmulPrecision, tiles: MatmulTile[]) =>
    tiles.flatMap((tile) =>
      TRANSPOSES.flatMap(([transA, transB]) =>
        [false, true].map((vec) => ({ tile, precision, transA, transB, vecA: vec, vecB: !vec, vecC: vec })),
      ),
    );
  /** Bytes of the workgroup arrays a shader declares. */
  const workgroupBytes = (code: string) =>
    [...code.matchAll(/var<workgroup> \w+: array<vec4[fu], (\d+)>/g)].reduce((sum, m) => sum + 16 * Number(m[1]), 0);

  it('stages f32 tiles as f32 and mixed ones as packed halves, without the shader-f16 extension', () => {
    for (const v of variants('f32', [TILE_64, TILE_128])) {
      const code = matmulWgsl(v);
      expect(code).not.toMatch(/pack2x16float|vec4u/);
    }
    for (const v of variants('mixed', [TILE_64_MIXED, TILE_128_MIXED])) {
      const code = matmulWgsl(v);
      expect(code).toMatch(/var<workgroup> As: array<vec4u,/);
      expect(code).toMatch(/unpack2x16float/);
      expect(code).not.toMatch(/enable f16|\bf16\b/);
    }
  });

  it('gives the mixed tilings twice the depth in the workgroup memory of the f32 ones, within the default 16 KiB', () => {
    for (const [f32, mixed] of [
      [TILE_64, TILE_64_MIXED],
      [TILE_128, TILE_128_MIXED],
    ] as const) {
      const base = { transA: false, transB: false, vecA: true, vecB: true, vecC: true };
      const f = workgroupBytes(matmulWgsl({ ...base, tile: f32, precision: 'f32' }));
      const h = workgroupBytes(matmulWgsl({ ...base, tile: mixed, precision: 'mixed' }));
      expect(h).toBe(f);
      expect(h).toBeLessThanOrEqual(16384);
    }
  });

  it('refuses a tiling that does not load in one pass at its precision', () => {
    const base = { transA: false, transB: false, vecA: true, vecB: true, vecC: true };
    expect(() => matmulWgsl({ ...base, tile: TILE_64, precision: 'mixed' })).toThrow(/64×64×16 tile does not load in one pass at mixed precision/);
    expect(() => matmulWgsl({ ...base, tile: TILE_64_MIXED, precision: 'f32' })).toThrow(/64×64×32 tile does not load in one pass$/);
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

describeGpu('matmul, mixed precision (f16 operands, f32 accumulation)', () => {
  for (const t of TRANSPOSES) {
    it(`${tag(t)} matches the product of f16-rounded inputs over shapes on and off the 64×64×32 tile`, async () => {
      for (const [m, n, k] of [...SHAPES, [70, 66, 63], [64, 64, 31]] as const) await checkMixed({ m, n, k, transA: t[0], transB: t[1] });
    });

    it(`${tag(t)} matches it with the 128×128×16 tiling`, async () => {
      for (const [m, n, k] of [[130, 70, 33], [132, 260, 20], [3, 5, 7], [129, 128, 17]] as const) {
        await checkMixed({ m, n, k, transA: t[0], transB: t[1], tile: TILE_128_MIXED });
      }
    });

    it(`${tag(t)} scales by alpha and accumulates into C, again on each replay`, async () => {
      await checkMixed({ m: 65, n: 63, k: 17, transA: t[0], transB: t[1], alpha: -0.375, accumulate: true });
      await checkMixed({ m: 64, n: 68, k: 40, transA: t[0], transB: t[1], alpha: 2, accumulate: true, times: 2 });
      await checkMixed({ m: 70, n: 130, k: 9, transA: t[0], transB: t[1], alpha: 0.5, accumulate: true, tile: TILE_128_MIXED });
    });
  }

  it('covers every tile of a folded grid', async () => {
    await checkMixed({ m: 130, n: 200, k: 12, maxGroups: 5, accumulate: true, tile: TILE_64_MIXED });
    await checkMixed({ m: 130, n: 200, k: 13, transA: true, transB: true, maxGroups: 4, tile: TILE_128_MIXED });
  });

  it('k = 0 gives alpha·0, plus C when accumulating; m = 0 leaves C alone', async () => {
    await checkMixed({ m: 5, n: 6, k: 0 });
    await checkMixed({ m: 5, n: 6, k: 0, accumulate: true });
    await checkMixed({ m: 0, n: 6, k: 3 });
  });

  it('overwrites C without reading it unless accumulating (NaN in C does not leak)', async () => {
    const gpu = softwareGpu!;
    const [m, n, k] = [9, 10, 11];
    const a = random(m * k, 92);
    const b = random(k * n, 93);
    const bufs = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(new Float32Array(m * n).fill(NaN), 'C')];
    gpu.run([matmul(gpu, { m, n, k, a: bufs[0], b: bufs[1], c: bufs[2], precision: 'mixed' })]);
    const got = await gpu.readF32(bufs[2]);
    const want = values(tf.matMul(tf.tensor2d(a.map(f16round), [m, k]), tf.tensor2d(b.map(f16round), [k, n])));
    expect(relErr(got, want)).toBeLessThan(TOL);
    for (const x of bufs) gpu.destroy(x);
  });

  describe('on a column chunk of a wider matrix', () => {
    const H = 24;
    const V = 100;
    const N = 10;
    for (const [c0, n, path] of [
      [36, 40, 'vec4'],
      [37, 41, 'scalar'],
    ] as const) {
      it(`forward, dX and dW (${path})`, async () => {
        await checkMixed({ m: N, n, k: H, bOffset: c0, ldb: V, cOffset: c0, ldc: V });
        await checkMixed({ m: N, n: H, k: n, transB: true, aOffset: c0, lda: V, bOffset: c0, ldb: V, accumulate: true });
        await checkMixed({ m: H, n, k: N, transA: true, bOffset: c0, ldb: V, cOffset: c0, ldc: V, accumulate: true });
        await checkMixed({ m: H, n, k: N, transA: true, bOffset: c0, ldb: V, cOffset: c0, ldc: V, accumulate: true, tile: TILE_128_MIXED });
      });
    }

    it('with padded strides on every operand and both transposes, each operand falling back alone', async () => {
      for (const t of TRANSPOSES) {
        for (const tile of [TILE_64_MIXED, TILE_128_MIXED]) {
          await checkMixed({ m: 33, n: 29, k: 19, transA: t[0], transB: t[1], lda: 41, ldb: 37, ldc: 45, aOffset: 3, bOffset: 7, cOffset: 5, alpha: 0.5, accumulate: true, tile });
          await checkMixed({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 8, cOffset: 12, alpha: 1.5, tile });
          await checkMixed({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 2, bOffset: 8, cOffset: 12, tile });
          await checkMixed({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 6, cOffset: 12, tile });
          await checkMixed({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 8, cOffset: 10, accumulate: true, tile });
        }
      }
    });
  });

  it('refuses an f32 tiling, and a precision that is neither', () => {
    const gpu = softwareGpu!;
    const [a, b, c] = [gpu.buffer(4 * 12, 'A'), gpu.buffer(4 * 12, 'B'), gpu.buffer(4 * 9, 'C')];
    const args: MatmulArgs = { m: 3, n: 3, k: 4, a, b, c, precision: 'mixed' };
    expect(() => matmulWith(gpu, args, { tile: TILE_64 }, 'mm')).toThrow(/does not load in one pass at mixed precision/);
    expect(() => matmul(gpu, { ...args, precision: 'f16' as MatmulPrecision }, 'mm')).toThrow(/mm: precision = f16 is not 'f32' or 'mixed'/);
    for (const x of [a, b, c]) gpu.destroy(x);
  });
});
