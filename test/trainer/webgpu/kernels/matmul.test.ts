/**
 * The matmul kernel against tfjs's cpu backend: shapes that are and are not multiples of the tiles
 * (down to 1×1×1, k = 1, m = 1, n = 1, and k = 0), all four transpose combinations, every tiling of
 * the table, the vec4 and scalar paths, alpha and accumulation (also over replayed calls), and the
 * engine's column-chunk use: offsets and strides reading a slice of a wider weight and writing into
 * the middle columns of a wider C, whose other columns must stay untouched. Split K: against the
 * unsplit product and the reference, the same bits on every run, and the refusal of a missing or
 * short scratch. Without a GPU: which tiling and split each GEMM of the presets gets (every 100m one
 * at least 256 workgroups), the calls' costs and shaders, and the refusals of arguments the shader
 * would get silently wrong.
 *
 * The mixed-precision mode over the same ground, against references in doubles: one from the inputs
 * rounded to f16 (which it must match as closely as f32 accumulation allows) and one from the inputs
 * as they are (which it must match within f16's input error, and be clearly further from: the
 * rounding really happens).
 *
 * Compiling a shader takes llvmpipe 0.5 to 2.5 s, so the cases reuse a few of the kernel's variants
 * (tiling, transposes, which operands take vec4 paths) rather than compiling all of them.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { type Buf, type Call, type Context, DEFAULT_LIMITS } from '../../../../trainer/webgpu/kernel.ts';
import type { Precision } from '../../../../schemas/enums.ts';
import { matmul, type MatmulArgs, matmulChoice, type MatmulTile, TILES } from '../../../../trainer/webgpu/kernels/matmul.ts';
import { describeGpu, random, relErr, softwareGpu, TOL, values } from '../harness.ts';

const [T128, T128x64, , T64] = TILES.f32;
const [M128, , , M64] = TILES.mixed;

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
  splitK?: number;
  /** A smaller per-dimension workgroup limit, to fold the grid. */
  maxGroups?: number;
  /** Run the calls this many times (replays accumulate again). */
  times?: number;
  precision?: Precision;
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

/** tfjs's product of the windows, then alpha and accumulation as tf ops. */
function tfReference(c: Case, A: Stored, B: Stored, C0: Stored, times: number): Float32Array {
  const tensor = (x: Stored) => tf.tensor2d(x.window, [x.rows, x.cols]);
  const expected = tf.tidy(() => {
    let product = c.k === 0 ? tf.zeros([c.m, c.n]) : tf.matMul(tensor(A), tensor(B), c.transA ?? false, c.transB ?? false);
    product = product.mul(c.alpha ?? 1);
    if (!c.accumulate) return product;
    return tensor(C0).add(product.mul(times));
  });
  const block = values(expected);
  tf.dispose(expected);
  return block;
}

const nameOf = (c: Case) => JSON.stringify({ ...c, tile: c.tile && `${c.tile.bm}×${c.tile.bn}×${c.tile.bk}` });

async function check(c: Case): Promise<Float32Array> {
  const { A, B, C0, got, ldc, cOff, times } = await runCase(c);
  const name = nameOf(c);
  const inside = inBlock(got, c, ldc, cOff);
  expect(relErr(inside, tfReference(c, A, B, C0, times)), `C's m×n block, ${name}`).toBeLessThan(TOL);
  expectOutsideKept(got, C0.data, c, ldc, cOff, name);
  return inside;
}

/** Uploads a case's operands (seeded, so a case run twice gets the same ones), runs its calls `times` times, and reads C back. */
async function runCase(c: Case, runs = 1) {
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
  const ctx: Context = c.maxGroups === undefined ? gpu : { limits: { ...DEFAULT_LIMITS, maxComputeWorkgroupsPerDimension: c.maxGroups } };
  // A forced split needs at most splitK partials; the table's says how many it needs.
  const floats = c.splitK !== undefined ? c.splitK * c.m * c.n : matmulChoice({ ...c }, ctx).scratchFloats;
  const scratch = floats > 0 ? gpu.buffer(4 * floats, 'scratch') : undefined;
  const bufs = [gpu.upload(A.data, 'A'), gpu.upload(B.data, 'B'), gpu.upload(C0.data, 'C')];
  const args: MatmulArgs = { ...c, a: bufs[0], b: bufs[1], c: bufs[2], scratch };
  const calls = matmul(ctx, args, { tile: c.tile, splitK: c.splitK, label: 'test' });
  const times = c.times ?? 1;
  const outs: Float32Array[] = [];
  for (let r = 0; r < runs; r++) {
    gpu.write(bufs[2], C0.data);
    gpu.device.pushErrorScope('validation');
    // Bound once and replayed, as the engine does.
    const dispatches = calls.map((x) => gpu.bind(x));
    gpu.run(Array.from({ length: times }, () => dispatches).flat());
    expect(await gpu.device.popErrorScope(), nameOf(c)).toBeNull();
    outs.push(await gpu.readF32(bufs[2], C0.data.length));
  }
  for (const b of [...bufs, ...(scratch ? [scratch] : [])]) gpu.destroy(b);
  return { A, B, C0, got: outs[0], outs, ldc, cOff, times, calls };
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

async function checkMixed(c: Case): Promise<Float32Array> {
  const mc: Case = { ...c, precision: 'mixed' };
  const { A, B, C0, got, ldc, cOff, times } = await runCase(mc);
  const inside = inBlock(got, mc, ldc, cOff);
  const rounded = reference(mc, A, B, C0, times, f16round);
  const exact = reference(mc, A, B, C0, times, (x) => x);
  const name = nameOf(mc);
  const errRounded = relErr(inside, rounded);
  expect(errRounded, `C's m×n block against f16-rounded inputs, ${name}`).toBeLessThan(TOL);
  expect(relErr(inside, exact), `C's m×n block against the exact product, ${name}`).toBeLessThan(MIXED_VS_F32);
  // Where rounding the inputs moves the answer at all, the result must sit an order of magnitude
  // closer to the rounded reference than that move: an f32 product would not.
  const moved = relErr(rounded, exact);
  if (moved > 0) expect(errRounded, `rounding the inputs moved C by ${moved}, ${name}`).toBeLessThan(moved / 10);
  expectOutsideKept(got, C0.data, mc, ldc, cOff, name);
  return inside;
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
const tag = (t: readonly [boolean, boolean]) => `${t[0] ? 'Aᵀ' : 'A'}·${t[1] ? 'Bᵀ' : 'B'}`;
const dims = (t: MatmulTile) => `${t.bm}×${t.bn}×${t.bk}`;

/**
 * A case for one tiling that divides none of its tiles (one tile and a bit each way, four k-steps
 * and a bit) with offsets, padded strides, alpha and accumulation: all on the vec4 grid, or none.
 */
function tileCase(tile: MatmulTile, t: readonly [boolean, boolean], vec: boolean, k = 4 * tile.bk + (vec ? 5 : 3)): Case {
  const [m, n] = vec ? [tile.bm + 12, tile.bn + 20] : [tile.bm + 9, tile.bn + 5];
  const pad = vec ? [4, 8, 12] : [3, 5, 7];
  const offsets = vec ? [8, 4, 12] : [3, 7, 5];
  return {
    m,
    n,
    k,
    transA: t[0],
    transB: t[1],
    lda: (t[0] ? m : k) + pad[0],
    ldb: (t[1] ? k : n) + pad[1],
    ldc: n + pad[2],
    aOffset: offsets[0],
    bOffset: offsets[1],
    cOffset: offsets[2],
    alpha: -0.75,
    accumulate: true,
    tile,
  };
}

// Without a GPU: the plan's side of the kernel.
const ctx: Context = { limits: DEFAULT_LIMITS };
const buf = (floats: number, label = 'x'): Buf => ({ label, size: 4 * floats });
/** A uniform field of a call, by name. */
const param = (c: Call, name: string) => new DataView(c.uniform!).getUint32(4 * c.kernel.params.findIndex((p) => p.name === name), true);
const binding = (c: Call, name: string) => c.kernel.bindings.find((b) => b.name === name)!.type;
/** Calls for a problem over buffers big enough for anything, with a scratch when the choice splits. */
function plan(s: Omit<MatmulArgs, 'a' | 'b' | 'c'>, options?: Parameters<typeof matmul>[2]): Call[] {
  const big = buf(2 ** 28);
  return matmul(ctx, { ...s, a: buf(2 ** 28, 'A'), b: buf(2 ** 28, 'B'), c: big, scratch: buf(2 ** 28, 'scratch') }, options);
}

describe('matmulChoice', () => {
  // The 100m preset at 8 rows × 1024 tokens: N tokens, hidden H, intermediate I, the K and V
  // projections' width (128 as the engine has it, kvHeads × headDim; 256 too), LM head chunks of
  // 8192 vocabulary columns and a last one of 7488.
  const [N, H, I] = [8192, 768, 2048];
  const shapes100m = (kv: number, V: number): Array<[string, number, number, number, boolean?, boolean?]> => [
    ['q, o', N, H, H],
    ['k, v', N, kv, H],
    ['gate, up', N, I, H],
    ['down', N, H, I],
    ['lm head', N, V, H],
    ['dX of gate, up', N, I, H, false, true],
    ['dX of down', N, H, I, false, true],
    ['dX of q, o', N, H, H, false, true],
    ['dX of k, v', N, H, kv, false, true],
    ['dX of lm head', N, H, V, false, true],
    ['dW of gate, up', I, H, N, true],
    ['dW of down', H, I, N, true],
    ['dW of q, o', H, H, N, true],
    ['dW of k, v', H, kv, N, true],
    ['dW of lm head', H, V, N, true],
  ];
  const shapes = [
    ...shapes100m(256, 8192),
    ...shapes100m(256, 7488).filter((s) => s[0].includes('lm head')),
    ...shapes100m(128, 8192).filter((s) => s[0].includes('k, v')),
  ];
  const choice = (m: number, n: number, k: number, precision?: Precision) => matmulChoice({ m, n, k, precision }, ctx);
  const row = (m: number, n: number, k: number) => {
    const c = choice(m, n, k);
    return `${m}×${n}×${k}: ${dims(c.tile)} split ${c.splitK}, ${c.workgroups} workgroups, scratch ${c.scratchFloats}`;
  };

  it('gives every GEMM of the 100m preset at 8 × 1024 tokens at least 256 workgroups', () => {
    for (const [what, m, n, k] of shapes) expect(choice(m, n, k).workgroups, `${what} ${m}×${n}×${k}`).toBeGreaterThanOrEqual(256);
    // The table, pinned: splits only for the weight gradients of small m×n, whose K is the tokens.
    expect(shapes.map(([, m, n, k]) => row(m, n, k))).toEqual([
      '8192×768×768: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×256×768: 128×64×8 split 1, 256 workgroups, scratch 0',
      '8192×2048×768: 128×128×8 split 1, 1024 workgroups, scratch 0',
      '8192×768×2048: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×8192×768: 128×128×8 split 1, 4096 workgroups, scratch 0',
      '8192×2048×768: 128×128×8 split 1, 1024 workgroups, scratch 0',
      '8192×768×2048: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×768×768: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×768×256: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×768×8192: 128×128×8 split 1, 384 workgroups, scratch 0',
      '2048×768×8192: 64×64×16 split 1, 384 workgroups, scratch 0',
      '768×2048×8192: 64×64×16 split 1, 384 workgroups, scratch 0',
      '768×768×8192: 128×128×8 split 8, 288 workgroups, scratch 4718592',
      '768×256×8192: 128×128×8 split 22, 264 workgroups, scratch 4325376',
      '768×8192×8192: 128×128×8 split 1, 384 workgroups, scratch 0',
      '8192×7488×768: 128×128×8 split 1, 3776 workgroups, scratch 0',
      '8192×768×7488: 128×128×8 split 1, 384 workgroups, scratch 0',
      '768×7488×8192: 128×128×8 split 1, 354 workgroups, scratch 0',
      '8192×128×768: 64×64×16 split 1, 256 workgroups, scratch 0',
      '8192×768×128: 128×128×8 split 1, 384 workgroups, scratch 0',
      '768×128×8192: 128×64×8 split 22, 264 workgroups, scratch 2162688',
    ]);
  });

  it('gives every GEMM of the 1b preset at least 256 workgroups, with LM head chunks of 8192 or 4096', () => {
    const [H1, I1, kv] = [2048, 5632, 128];
    const ks: Array<[number, number, number]> = [];
    for (const V of [8192, 7488, 4096, 3392]) {
      ks.push([N, H1, H1], [N, kv, H1], [N, I1, H1], [N, H1, I1], [N, V, H1], [N, H1, V], [N, H1, kv]);
      ks.push([I1, H1, N], [H1, I1, N], [H1, H1, N], [H1, kv, N], [H1, V, N]);
    }
    for (const [m, n, k] of ks) expect(choice(m, n, k).workgroups, `${m}×${n}×${k}`).toBeGreaterThanOrEqual(256);
    expect(Math.max(...ks.map(([m, n, k]) => choice(m, n, k).scratchFloats))).toBe(4194304);
  });

  it('fills what it can of the tiny preset: splits K = 8192 into ranges of 256 at most, and does not pad n = 172 to 256', () => {
    expect(row(64, 64, N)).toBe(`64×64×${N}: 64×64×16 split 32, 32 workgroups, scratch 131072`);
    expect(row(N, 172, 64)).toBe(`${N}×172×64: 64×64×16 split 1, 384 workgroups, scratch 0`);
    expect(row(N, 64, 64)).toBe(`${N}×64×64: 64×64×16 split 1, 128 workgroups, scratch 0`);
    expect(row(64, 8192, N)).toBe(`64×8192×${N}: 64×128×8 split 4, 256 workgroups, scratch 2097152`);
  });

  it('splits only where no tiling reaches 256 workgroups alone, into ranges of whole k-steps, and sizes the scratch', () => {
    const all = [...shapes.map(([, m, n, k, tA, tB]) => ({ m, n, k, transA: tA, transB: tB })), { m: 64, n: 64, k: N }, { m: 100, n: 60, k: 1000 }, { m: 5, n: 7, k: 300 }];
    for (const precision of ['f32', 'mixed'] as const) {
      for (const s of all) {
        const c = choice(s.m, s.n, s.k, precision);
        const name = `${s.m}×${s.n}×${s.k} ${precision}`;
        expect(TILES[precision], name).toContainEqual(c.tile);
        const tiles = (t: MatmulTile) => Math.ceil(s.m / t.bm) * Math.ceil(s.n / t.bn);
        if (c.splitK > 1) expect(Math.max(...TILES[precision].map(tiles)), name).toBeLessThan(256);
        expect(c.workgroups, name).toBe(tiles(c.tile) * c.splitK);
        expect(c.scratchFloats, name).toBe(c.splitK > 1 ? c.splitK * s.m * s.n : 0);
        // What matmul runs: that split, each range a multiple of bk, none empty.
        const calls = plan({ ...s, precision });
        expect(calls.length, name).toBe(c.splitK > 1 ? 2 : 1);
        const [kPer, splits] = [param(calls[0], 'kPer'), param(calls[0], 'splits')];
        expect(splits, name).toBe(c.splitK);
        if (splits > 1) {
          expect(kPer % c.tile.bk, name).toBe(0);
          expect((splits - 1) * kPer, name).toBeLessThan(s.k);
          expect(splits * kPer, name).toBeGreaterThanOrEqual(s.k);
        }
        expect(calls[0].workgroups[0] * calls[0].workgroups[1], name).toBeGreaterThanOrEqual(c.workgroups);
      }
    }
  });

  it('gives mixed precision the same tiles, twice as deep', () => {
    for (const [, m, n, k] of shapes) {
      const [f, h] = [choice(m, n, k), choice(m, n, k, 'mixed')];
      expect({ bm: h.tile.bm, bn: h.tile.bn, bk: h.tile.bk / 2 }).toEqual(f.tile);
      expect(h.workgroups).toBeGreaterThanOrEqual(256);
    }
  });

  it('keeps the partials within one storage binding', () => {
    const room = (partials: number): Context => ({ limits: { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 4 * 768 * 768 * partials } });
    expect(matmulChoice({ m: 768, n: 768, k: N }, room(2))).toEqual({ tile: T64, splitK: 2, workgroups: 288, scratchFloats: 2 * 768 * 768 });
    expect(matmulChoice({ m: 768, n: 768, k: N }, room(1.5))).toEqual({ tile: T64, splitK: 1, workgroups: 144, scratchFloats: 0 });
  });
});

describe('matmul calls', () => {
  it('takes vec4 paths for a directly copied operand and C only where offset, stride and contiguous extent are multiples of 4', () => {
    const types = (s: Omit<MatmulArgs, 'a' | 'b' | 'c'>) => {
      const [c] = plan(s);
      return [binding(c, 'a'), binding(c, 'b'), binding(c, 'c')].map((t) => (t === 'array<vec4f>' ? 'v' : 's')).join('');
    };
    expect(types({ m: 64, n: 64, k: 64 })).toBe('svv');
    expect(types({ m: 64, n: 64, k: 64, transA: true })).toBe('vvv');
    // Plain A and transposed B are read along k: always scalars.
    expect(types({ m: 64, n: 64, k: 64, transA: false, transB: true })).toBe('ssv');
    expect(types({ m: 64, n: 64, k: 6, transA: true, lda: 68, ldb: 64 })).toBe('vvv');
    expect(types({ m: 64, n: 64, k: 6, transA: true, lda: 66 })).toBe('svv');
    expect(types({ m: 8, n: 40, k: 8, bOffset: 36, ldb: 100, cOffset: 36, ldc: 100 })).toBe('svv');
    expect(types({ m: 8, n: 40, k: 8, bOffset: 37, ldb: 100, cOffset: 2, ldc: 100 })).toBe('sss');
    // Split, C is read only by the reduction: the partials' vec4 path depends on n alone.
    expect(types({ m: 8, n: 40, k: 2048, cOffset: 2, ldc: 100 })).toBe('svv');
    expect(types({ m: 8, n: 37, k: 2048, precision: 'mixed' })).toBe('sss');
  });

  it('stages f32 tiles as f32 and mixed ones as packed halves, double-buffered within 16 KiB, one barrier per k-step', () => {
    const workgroupBytes = (code: string) => [...code.matchAll(/var<workgroup> \w+: array<vec4[fu], (\d+)>/g)].reduce((sum, m) => sum + 16 * Number(m[1]), 0);
    for (const precision of ['f32', 'mixed'] as const) {
      for (const tile of TILES[precision]) {
        for (const [transA, transB] of TRANSPOSES) {
          const code = plan({ m: 64, n: 64, k: 64, transA, transB, precision }, { tile })[0].kernel.code;
          const kRows = precision === 'mixed' ? tile.bk / 2 : tile.bk;
          expect(workgroupBytes(code)).toBe(2 * 16 * kRows * ((tile.bm + tile.bn) / 4));
          expect(workgroupBytes(code)).toBeLessThanOrEqual(16384);
          // One before the loop (the first tile staged), one in it.
          expect(code.match(/workgroupBarrier\(\)/g)).toHaveLength(2);
          if (precision === 'f32') expect(code).not.toMatch(/pack2x16float|vec4u/);
          else {
            expect(code).toMatch(/var<workgroup> As: array<vec4u,/);
            expect(code).toMatch(/unpack2x16float/);
            expect(code).not.toMatch(/enable f16|\bf16\b/);
          }
        }
      }
    }
  });

  it('costs 2·m·n·k flops in the product and none in the reduction, and the bytes each must move', () => {
    const [one] = plan({ m: 100, n: 60, k: 30, accumulate: true });
    expect(one.cost).toEqual({ flops: 2 * 100 * 60 * 30, bytes: 4 * (100 * 30 + 30 * 60 + 2 * 100 * 60) });
    const [product, reduce] = plan({ m: 100, n: 60, k: 1000 }, { splitK: 3 });
    expect(product.cost).toEqual({ flops: 2 * 100 * 60 * 1000, bytes: 4 * (100 * 1000 + 1000 * 60 + 3 * 100 * 60) });
    expect(reduce.cost).toEqual({ flops: 0, bytes: 4 * (3 * 100 * 60 + 100 * 60) });
    expect(reduce.label).toBe('matmul reduce');
  });

  it('refuses buffers too short, strides narrower than a row, C aliasing an operand, and a tiling not in the table', () => {
    const [a, b, c] = [buf(12, 'A'), buf(12, 'B'), buf(9, 'C')];
    const mm = (s: Partial<MatmulArgs>, options: Parameters<typeof matmul>[2] = {}) => () => matmul(ctx, { m: 3, n: 3, k: 4, a, b, c, ...s }, { label: 'mm', ...options });
    expect(mm({})).not.toThrow();
    expect(mm({ aOffset: 1 })).toThrow(/mm: A needs 52 bytes, its buffer has 48/);
    expect(mm({ ldc: 2 })).toThrow(/C has rows of 3 but a stride of 2/);
    expect(mm({ c: a })).toThrow(/C is the same buffer as an operand/);
    expect(mm({ m: 3.5 })).toThrow(/m = 3.5 is not a u32/);
    expect(mm({ precision: 'f16' as Precision })).toThrow(/mm: precision = f16 is not 'f32' or 'mixed'/);
    expect(mm({ precision: 'mixed' }, { tile: T64 })).toThrow(/mm: tile 64×64×16 is not one of the mixed tilings \(128×128×16, 128×64×16, 64×128×16, 64×64×32\)/);
    expect(mm({}, { tile: { bm: 32, bn: 32, bk: 8 } })).toThrow(/tile 32×32×8 is not one of the f32 tilings/);
    expect(mm({}, { splitK: 0 })).toThrow(/splitK = 0 is not a positive integer/);
  });

  it('refuses a split without a scratch, with one too small, or with one that is an operand', () => {
    const [a, b, c] = [buf(100 * 1000, 'A'), buf(1000 * 60, 'B'), buf(100 * 60, 'C')];
    const mm = (scratch?: Buf) => () => matmul(ctx, { m: 100, n: 60, k: 1000, a, b, c, scratch }, { splitK: 3, label: 'mm' });
    expect(mm()).toThrow(/mm: splitting K 3 ways needs a scratch of 18000 floats, none was given/);
    expect(mm(buf(17999))).toThrow(/mm: splitting K 3 ways needs a scratch of 18000 floats \(72000 bytes\), its buffer has 71996 bytes/);
    expect(mm(a)).toThrow(/the scratch is the same buffer as an operand or C/);
    expect(mm(buf(18000))).not.toThrow();
    // The table's own split needs one as well.
    const s = { m: 64, n: 64, k: 8192 };
    const floats = matmulChoice(s, ctx).scratchFloats;
    const big = buf(64 * 8192);
    expect(() => matmul(ctx, { ...s, a: big, b: big, c: buf(64 * 64) })).toThrow(/splitting K 32 ways needs a scratch of 131072 floats/);
    expect(matmul(ctx, { ...s, a: big, b: big, c: buf(64 * 64), scratch: buf(floats) })).toHaveLength(2);
    // A split with nothing to split is none.
    expect(plan({ m: 5, n: 6, k: 0 }, { splitK: 4 })).toHaveLength(1);
    expect(plan({ m: 5, n: 6, k: 17 }, { tile: T64, splitK: 4 }).map((x) => param(x, 'splits'))).toEqual([2, 2]);
  });

  it('folds the grid within the per-dimension limit, and refuses one that cannot be', () => {
    const small: Context = { limits: { ...DEFAULT_LIMITS, maxComputeWorkgroupsPerDimension: 4 } };
    const args = { m: 65, n: 129, k: 1, a: buf(65), b: buf(129), c: buf(65 * 129) };
    expect(matmul(small, args, { tile: T64 })[0].workgroups).toEqual([3, 2, 1]);
    const tiny: Context = { limits: { ...DEFAULT_LIMITS, maxComputeWorkgroupsPerDimension: 2 } };
    expect(() => matmul(tiny, args, { tile: T64, label: 'mm' })).toThrow(/mm: 6 workgroups of 64×64 are more than 2²/);
  });
});

describeGpu('matmul', () => {
  for (const t of TRANSPOSES) {
    it(`${tag(t)} matches tf.matMul over shapes on and off the tiles`, async () => {
      for (const [m, n, k] of SHAPES) await check({ m, n, k, transA: t[0], transB: t[1] });
    });

    it(`${tag(t)} scales by alpha and accumulates into C, again on each replay`, async () => {
      await check({ m: 65, n: 63, k: 17, transA: t[0], transB: t[1], alpha: -0.375, accumulate: true });
      await check({ m: 64, n: 68, k: 40, transA: t[0], transB: t[1], alpha: 2, accumulate: true, times: 2 });
    });
  }

  // Each tiling with every transpose; which cases take the vec4 paths alternates, so that both paths
  // meet every tiling and every transpose without compiling all their combinations.
  TILES.f32.forEach((tile, i) => {
    it(`the ${dims(tile)} tiling, with offsets, strides, alpha and accumulation`, async () => {
      for (const [j, t] of TRANSPOSES.entries()) await check(tileCase(tile, t, (i + j) % 2 === 1));
    });
  });

  it('covers every tile when the grid is folded into two dimensions, spare workgroups doing nothing', async () => {
    // 3×5 = 15 tiles as a 4×4 grid, 2×2 as 2×2; then 10 tile-rows, more than one L2 group of 8, 30 tiles as 8×4.
    await check({ m: 130, n: 260, k: 12, maxGroups: 4, accumulate: true });
    await check({ m: 132, n: 200, k: 12, transA: true, transB: true, maxGroups: 3, tile: T128 });
    await check({ m: 577, n: 5, k: 3 });
    await check({ m: 577, n: 130, k: 3, transB: true, maxGroups: 8 });
  });

  it('overwrites C without reading it unless accumulating (NaN in C does not leak)', async () => {
    const gpu = softwareGpu!;
    const [m, n, k] = [9, 10, 11];
    const a = random(m * k, 90);
    const b = random(k * n, 91);
    const bufs = [gpu.upload(a, 'A'), gpu.upload(b, 'B'), gpu.upload(new Float32Array(m * n).fill(NaN), 'C')];
    gpu.run(matmul(gpu, { m, n, k, a: bufs[0], b: bufs[1], c: bufs[2] }));
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
        await check({ m: H, n, k: N, transA: true, bOffset: c0, ldb: V, cOffset: c0, ldc: V, accumulate: true, tile: T128 });
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
});

describeGpu('matmul, split K', () => {
  /** The split case against the reference, the same case unsplit, and itself run again: the same bits. */
  async function checkSplit(c: Case, mixed = false): Promise<void> {
    const name = nameOf(c);
    const first = seed;
    const split = await (mixed ? checkMixed : check)(c);
    seed = first;
    const { outs, ldc, cOff, calls } = await runCase({ ...c, precision: mixed ? 'mixed' : undefined }, 2);
    expect(calls.map((x) => x.label)).toEqual(['test', 'test reduce']);
    expect(inBlock(outs[0], c, ldc, cOff), `split run twice, ${name}`).toEqual(split);
    expect(outs[1], `split run twice, ${name}`).toEqual(outs[0]);
    seed = first;
    const whole = await (mixed ? checkMixed : check)({ ...c, splitK: 1 });
    expect(relErr(split, whole), `split against unsplit, ${name}`).toBeLessThan(TOL);
  }

  it('matches the unsplit product and the reference where K divides neither the tile nor the splits, every transpose', async () => {
    // k = 1000 in 3 ranges of 336, 336 and 328 k; 70×37 in 64×64 tiles.
    for (const t of TRANSPOSES) await checkSplit({ m: 70, n: 37, k: 1000, transA: t[0], transB: t[1], tile: T64, splitK: 3 });
    // Offsets, strides, alpha and accumulation (applied once, by the reduction), over two replays.
    await checkSplit({ ...tileCase(T64, [true, false], true, 301), splitK: 5, times: 2 });
    // A split of 7 asked of k = 45 in steps of 8: ranges of 8, the last 5, six of them.
    await checkSplit({ m: 130, n: 70, k: 45, tile: T128, splitK: 7 });
    await checkSplit({ ...tileCase(T128x64, [false, true], false, 259), splitK: 4 });
  });

  it('takes the split the table chooses for a small m×n over a long K', async () => {
    // 64×64 tiles: 2 of them, K in 4 ranges of 288 (the last 236).
    expect(matmulChoice({ m: 70, n: 40, k: 1100 }, softwareGpu!)).toMatchObject({ tile: T64, splitK: 4 });
    await checkSplit({ m: 70, n: 40, k: 1100, transA: true, alpha: 0.5, accumulate: true });
  });

  it('in mixed precision too', async () => {
    await checkSplit({ m: 70, n: 37, k: 1000, tile: M64, splitK: 3 }, true);
    await checkSplit({ ...tileCase(M128, [true, true], true, 301), splitK: 3 }, true);
  });
});

describeGpu('matmul, mixed precision (f16 operands, f32 accumulation)', () => {
  for (const t of TRANSPOSES) {
    it(`${tag(t)} matches the product of f16-rounded inputs over shapes on and off the tiles`, async () => {
      for (const [m, n, k] of [...SHAPES, [70, 66, 63], [64, 64, 31]] as const) await checkMixed({ m, n, k, transA: t[0], transB: t[1] });
    });

    it(`${tag(t)} scales by alpha and accumulates into C, again on each replay`, async () => {
      await checkMixed({ m: 65, n: 63, k: 17, transA: t[0], transB: t[1], alpha: -0.375, accumulate: true });
      await checkMixed({ m: 64, n: 68, k: 40, transA: t[0], transB: t[1], alpha: 2, accumulate: true, times: 2 });
    });
  }

  // Each tiling with two transposes that stage its operands both ways (a half-size tile, B's in
  // 128×64 and A's in 64×128, copied and transposed), vec4 paths alternating; 64×64×32, the choice
  // for small shapes, gets all four above.
  TILES.mixed.forEach((tile, i) => {
    it(`the ${dims(tile)} tiling, with offsets, strides, alpha and accumulation`, async () => {
      const pairs = i % 2 === 0 ? [TRANSPOSES[0], TRANSPOSES[3]] : [TRANSPOSES[1], TRANSPOSES[2]];
      for (const [j, t] of pairs.entries()) await checkMixed(tileCase(tile, t, (i + j) % 2 === 1));
    });
  });

  it('covers every tile of a folded grid', async () => {
    await checkMixed({ m: 130, n: 260, k: 12, maxGroups: 4, accumulate: true, tile: M64 });
    await checkMixed({ m: 132, n: 200, k: 13, transA: true, transB: true, maxGroups: 3, tile: M128 });
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
    gpu.run(matmul(gpu, { m, n, k, a: bufs[0], b: bufs[1], c: bufs[2], precision: 'mixed' }));
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
      });
    }

    it('with padded strides on every operand and both transposes, each operand falling back alone', async () => {
      for (const t of TRANSPOSES) {
        await checkMixed({ m: 33, n: 29, k: 19, transA: t[0], transB: t[1], lda: 41, ldb: 37, ldc: 45, aOffset: 3, bOffset: 7, cOffset: 5, alpha: 0.5, accumulate: true });
        await checkMixed({ m: 36, n: 28, k: 20, transA: t[0], transB: t[1], lda: 44, ldb: 40, ldc: 48, aOffset: 4, bOffset: 8, cOffset: 12, alpha: 1.5 });
      }
      // Aᵀ·B copies both operands directly, so each of A, B and C has a vec4 path to fall back from
      // (the f32 cases above cover the other transposes; the choice is the same code).
      const t = { transA: true, lda: 44, ldb: 40, ldc: 48 };
      await checkMixed({ m: 36, n: 28, k: 20, ...t, aOffset: 2, bOffset: 8, cOffset: 12 });
      await checkMixed({ m: 36, n: 28, k: 20, ...t, aOffset: 4, bOffset: 6, cOffset: 12 });
      await checkMixed({ m: 36, n: 28, k: 20, ...t, aOffset: 4, bOffset: 8, cOffset: 10, accumulate: true });
    });
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
