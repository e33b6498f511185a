/**
 * General matrix product for the WebGPU engine: C = alpha·op(A)·op(B) (+ C), f32, row-major, with
 * either operand transposed, element offsets and row strides (so a column chunk of a weight or of its
 * gradient can be read or written in place), and accumulation (gradients add up over micro-batches).
 *
 * Filling the GPU. A large GPU (132 SMs on an H100 or H200) idles unless a GEMM launches a few
 * workgroups per SM, and the training step's GEMMs come in very different shapes: the forward's and
 * input gradients' are 8192 tokens tall, the weight gradients a small m×n (768×256, say) with the
 * tokens as K. So the tiling is chosen per shape from a table (128×128, 128×64, 64×128, 64×64;
 * bigger tiles do more arithmetic per byte staged, so they come first): the first whose tiles alone
 * reach TARGET_WORKGROUPS, passing over one that pads the product by more than an eighth over
 * another that does. Where none does, K is split: each split writes its partial product into a
 * scratch [splits, m, n], and a second call sums the partials in order s = 0 … S − 1 into C with
 * alpha and accumulation, so the result is the same bits on every run (no atomics). The split takes
 * the first tiling that then reaches the target, each split's K a multiple of the tile's depth and at
 * least MIN_SPLIT_K (long enough to pay for writing the partial tile). The scratch is then about the
 * target × a tile's area whatever the shape (a few million floats), and its traffic, 2·S·m·n floats
 * against 2·m·n·k flops, at most one float per MIN_SPLIT_K flops.
 *
 * A workgroup of 256 invocations (16×16) owns one bm×bn tile of C and walks its K range bk at a
 * time; each invocation keeps a (bm/16)×(bn/16) block of C in registers (8×8 in the 128×128 tiling,
 * twice the arithmetic per workgroup-memory read of 4×4). Both operands are staged k-major
 * (As[k][m], Bs[k][n], as vec4s of four consecutive m or n), so the inner loop reads one vec4 of A
 * and one of B per 4×4 block, broadcast across one axis of the workgroup and contiguous across the
 * other. The tiles are double-buffered: the next k-step is fetched into registers before this one is
 * multiplied and stored into the other buffer after it, so one barrier per k-step separates both the
 * stores from the last reads of that buffer and this step's reads from its stores. Every tiling fits
 * WebGPU's default 16 KiB of workgroup memory that way (128×128×8 f32 exactly), which leaves no room
 * for the padding that used to keep the stores off shared banks; see the swizzle below.
 *
 * Loads. Each invocation stages one vec4 of a tile per operand (a tile of 128 such vec4s, as B's in
 * 128×64, takes half the workgroup). An operand contiguous along m (or n) (transposed A, plain B)
 * is copied straight across, one global vec4 per invocation, fully coalesced. One contiguous along k
 * is read by every invocation as four scalars (four rows at one k), neighbouring invocations on
 * neighbouring k so that a warp reads whole 32-byte runs of a few rows, and is stored as one whole
 * vec4: a store to one component of a shared vector may be lowered to a read-modify-write of the
 * whole vector (Tint does so for HLSL's sake), which would race between invocations writing
 * neighbouring components, so every workgroup-memory store here is a whole vec4 by one invocation.
 * Neighbouring invocations then write the same column of consecutive k-rows, which an unpadded row
 * of a multiple of 8 vec4s puts in one bank: that operand's rows are swizzled (column c of k-row r
 * lives at c ^ (r mod 8)), which its reads undo with one xor.
 *
 * vec4 global loads and stores are used for a directly copied operand and for C when the offset, row
 * stride and extent along the contiguous axis are all multiples of 4 (then a vec4 is either wholly
 * inside the matrix or wholly outside it); otherwise the scalar path, with per-element bounds checks.
 *
 * Workgroups are numbered linearly (folded into a 2-D grid past the per-dimension limit), split by
 * split (so the workgroups in flight share K panels), and mapped to tiles in groups of 8 tile-rows,
 * so that consecutive workgroups share panels of both A and B in L2.
 *
 * Mixed precision ('mixed'): f16 operands, f32 accumulation. Global memory stays f32 (so buffers,
 * offsets, strides, alpha, accumulation and the split's partials are those of the f32 mode); the
 * operands are rounded to half precision on their way into workgroup memory, with pack2x16float,
 * which is core WGSL and needs no shader-f16, so the mode runs on every adapter. Each u32 of a staged
 * tile holds a pair of consecutive k (2j, 2j + 1) for one m (or n), and each vec4<u32> four
 * consecutive m (or n): the layout and access pattern of the f32 tile, with one k-row holding two
 * k-steps. The mixed tilings spend the halved footprint on twice the depth (128×128×16, 64×64×32):
 * half the barriers and loop trips per k, each vec4 read of workgroup memory feeding twice the
 * arithmetic. An invocation's staged vec4 then holds two k (two global rows of a direct copy, two
 * scalars per row of a transposing one), kept as f32 in registers until the store, so the pack does
 * not wait on the loads. Odd k needs nothing special: a pair's missing half is zero.
 *
 * Covered by test/trainer/webgpu/kernels/matmul.test.ts.
 */
import { type Buf, type Call, type Context, call, grid, groups, kernel, read, write } from '../kernel.ts';
import type { Precision } from '../../../schemas/enums.ts';
import { ENTRY, perElement } from './prelude.ts';

/** One tiling: the workgroup's tile of C is bm×bn, k advances bk at a time; 256 invocations. */
export interface MatmulTile {
  bm: number;
  bn: number;
  bk: number;
}

export interface MatmulArgs {
  /** C is m×n, op(A) is m×k, op(B) is k×n. */
  m: number;
  n: number;
  k: number;
  /** f32, row-major. C must not be the same buffer as A or B (WebGPU forbids a writable alias). */
  a: Buf;
  b: Buf;
  c: Buf;
  /** A is stored [k, m] (so op(A) = Aᵀ). */
  transA?: boolean;
  /** B is stored [n, k]. */
  transB?: boolean;
  /** Row strides in elements; defaults: lda = transA ? m : k, ldb = transB ? k : n, ldc = n. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Element offsets into the buffers (default 0). */
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  /** C = alpha·op(A)·op(B) + (accumulate ? C : 0); C is not read when false. */
  accumulate?: boolean;
  /** Default 1. */
  alpha?: number;
  /**
   * 'mixed': the operands are rounded to f16 (round to nearest even where the adapter does so) and
   * their products accumulated in f32; see the header. Values beyond f16's range (|x| > 65504) give
   * undefined results there, as WGSL's pack2x16float does: scale them first. Default 'f32'.
   */
  precision?: Precision;
  /** Needed when the choice splits K: at least matmulChoice(...).scratchFloats floats; shared by every GEMM of a plan (they run one after another). */
  scratch?: Buf;
}

export interface MatmulChoice {
  tile: MatmulTile;
  /** K is cut into this many ranges (1: no split). */
  splitK: number;
  /** Tiles × splitK. */
  workgroups: number;
  /** The partials' floats when split, else 0. */
  scratchFloats: number;
}

/**
 * The tilings in order of preference (more arithmetic per staged byte first), per precision; the
 * mixed ones have twice the depth in the same workgroup memory. 128×64 needs only 12 KiB: a
 * double-buffered 128×64×16 would need 24.
 */
export const TILES: Record<Precision, readonly MatmulTile[]> = {
  f32: [
    { bm: 128, bn: 128, bk: 8 },
    { bm: 128, bn: 64, bk: 8 },
    { bm: 64, bn: 128, bk: 8 },
    { bm: 64, bn: 64, bk: 16 },
  ],
  mixed: [
    { bm: 128, bn: 128, bk: 16 },
    { bm: 128, bn: 64, bk: 16 },
    { bm: 64, bn: 128, bk: 16 },
    { bm: 64, bn: 64, bk: 32 },
  ],
};

/**
 * Workgroups a GEMM should launch: two per SM of a 132-SM GPU (H100, H200), so that each SM has one
 * to run while the other waits on memory or a barrier.
 */
const TARGET_WORKGROUPS = 256;
/** The shortest K range a split may have (see the header). */
const MIN_SPLIT_K = 256;
const THREADS = 256;
/** Tile rows per L2 group in the workgroup-to-tile mapping. */
const GROUP_M = 8;
/** Bytes per element of A, B, C and the partials: the mixed mode rounds to f16 only in workgroup memory. */
const ELEM_BYTES = 4;

/** The K ranges of `splits` requested: each a multiple of bk, none empty. */
function splitRanges(k: number, bk: number, splits: number): { splits: number; kPer: number } {
  if (splits <= 1 || k === 0) return { splits: 1, kPer: k };
  const kPer = Math.ceil(Math.ceil(k / splits) / bk) * bk;
  return { splits: Math.ceil(k / kPer), kPer };
}

/** Pure: the tiling and split the GEMM m×n×k gets (what matmul() uses), from a table keyed by shape. */
export function matmulChoice(s: { m: number; n: number; k: number; precision?: Precision }, ctx: Context): MatmulChoice {
  const { m, n, k } = s;
  // The partials are bound whole, so they must fit one binding.
  const byBinding = m * n === 0 ? 1 : Math.floor(ctx.limits.maxStorageBufferBindingSize / (ELEM_BYTES * m * n));
  const candidates = TILES[s.precision ?? 'f32'].map((tile) => {
    const tiles = groups(m, tile.bm) * groups(n, tile.bn);
    const wanted = tiles === 0 || tiles >= TARGET_WORKGROUPS ? 1 : Math.min(groups(TARGET_WORKGROUPS, tiles), Math.floor(k / MIN_SPLIT_K), byBinding);
    const { splits } = splitRanges(k, tile.bk, wanted);
    return {
      tile,
      splitK: splits,
      workgroups: tiles * splits,
      scratchFloats: splits > 1 ? splits * m * n : 0,
      padded: groups(m, tile.bm) * tile.bm * groups(n, tile.bn) * tile.bn,
    };
  });
  // The first that reaches the target, passing over one that pads the product by more than an
  // eighth over the tightest that does (n = 172 in 128-wide tiles, say: a third of the work wasted).
  const reaching = (cs: typeof candidates) => {
    const ok = cs.filter((c) => c.workgroups >= TARGET_WORKGROUPS);
    const tightest = Math.min(...ok.map((c) => c.padded));
    return ok.find((c) => 8 * c.padded <= 9 * tightest);
  };
  const best =
    reaching(candidates.filter((c) => c.splitK === 1)) ??
    reaching(candidates) ??
    // Too small to fill the GPU whichever way: the most workgroups, then the least padding.
    candidates.reduce((x, y) => (y.workgroups > x.workgroups || (y.workgroups === x.workgroups && y.padded < x.padded) ? y : x));
  return { tile: best.tile, splitK: best.splitK, workgroups: best.workgroups, scratchFloats: best.scratchFloats };
}

/**
 * C = alpha·op(A)·op(B) (+ C): one call, or two when K is split (partials into scratch, then a fixed-order reduction into C).
 * `options` is for tests: a tiling of the table instead of the choice's (unsplit unless `splitK` is given), or a split.
 */
export function matmul(ctx: Context, args: MatmulArgs, options: { tile?: MatmulTile; splitK?: number; label?: string } = {}): Call[] {
  const label = options.label ?? 'matmul';
  const s = check(args, label);
  const precision = args.precision ?? 'f32';
  let tile: MatmulTile;
  let wanted: number;
  if (options.tile !== undefined) {
    const t = options.tile;
    tile = TILES[precision].find((x) => x.bm === t.bm && x.bn === t.bn && x.bk === t.bk) ?? fail(label, `tile ${t.bm}×${t.bn}×${t.bk} is not one of the ${precision} tilings (${TILES[precision].map((x) => `${x.bm}×${x.bn}×${x.bk}`).join(', ')})`);
    wanted = options.splitK ?? 1;
  } else {
    const choice = matmulChoice({ m: s.m, n: s.n, k: s.k, precision }, ctx);
    tile = choice.tile;
    wanted = options.splitK ?? choice.splitK;
  }
  if (!Number.isInteger(wanted) || wanted < 1) fail(label, `splitK = ${wanted} is not a positive integer`);
  const { splits, kPer } = splitRanges(s.m * s.n === 0 ? 0 : s.k, tile.bk, wanted);
  const tilesM = groups(s.m, tile.bm);
  const tilesN = groups(s.n, tile.bn);
  const count = tilesM * tilesN * splits;
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (count > max * max) fail(label, `${count} workgroups of ${tile.bm}×${tile.bn} are more than ${max}²`);
  const workgroups = grid(ctx, count);
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const by4 = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  const v: Variant = {
    tile,
    precision,
    transA,
    transB,
    vecA: transA && by4(s.lda, s.aOffset, s.m),
    vecB: !transB && by4(s.ldb, s.bOffset, s.n),
    vecC: splits > 1 ? by4(s.n) : by4(s.ldc, s.cOffset, s.n),
  };
  const operands = ELEM_BYTES * (s.m * s.k + s.k * s.n);
  const flops = 2 * s.m * s.n * s.k;
  const values = { m: s.m, n: s.n, k: s.k, lda: s.lda, ldb: s.ldb, aOff: s.aOffset, bOff: s.bOffset, tilesM, tilesN, splits, kPer };
  if (splits === 1) {
    const c = { ldc: s.ldc, cOff: s.cOffset, splitStride: 0, accumulate: s.accumulate ? 1 : 0, alpha: s.alpha };
    const bytes = operands + ELEM_BYTES * s.m * s.n * (s.accumulate ? 2 : 1);
    return [call(gemmKernel(v), { a: args.a, b: args.b, c: args.c }, { ...values, ...c }, workgroups, { flops, bytes }, label)];
  }
  const floats = splits * s.m * s.n;
  const scratch = args.scratch ?? fail(label, `splitting K ${splits} ways needs a scratch of ${floats} floats, none was given`);
  if (scratch.size < ELEM_BYTES * floats) fail(label, `splitting K ${splits} ways needs a scratch of ${floats} floats (${ELEM_BYTES * floats} bytes), its buffer has ${scratch.size} bytes`);
  if (scratch === args.a || scratch === args.b || scratch === args.c) fail(label, 'the scratch is the same buffer as an operand or C');
  const partials = { buffer: scratch, offset: 0, size: ELEM_BYTES * floats };
  const toPartials = { ldc: s.n, cOff: 0, splitStride: s.m * s.n, accumulate: 0, alpha: 1 };
  return [
    call(gemmKernel(v), { a: args.a, b: args.b, c: partials }, { ...values, ...toPartials }, workgroups, { flops, bytes: operands + ELEM_BYTES * floats }, label),
    call(
      REDUCE,
      { partials, c: args.c },
      { count: s.m * s.n, n: s.n, splits, ldc: s.ldc, cOff: s.cOffset, accumulate: s.accumulate ? 1 : 0, alpha: s.alpha },
      perElement(ctx, s.m * s.n),
      { flops: 0, bytes: ELEM_BYTES * (floats + s.m * s.n * (s.accumulate ? 2 : 1)) },
      `${label} reduce`,
    ),
  ];
}

function fail(label: string, what: string): never {
  throw new RangeError(`${label}: ${what}`);
}

interface Resolved {
  m: number;
  n: number;
  k: number;
  lda: number;
  ldb: number;
  ldc: number;
  aOffset: number;
  bOffset: number;
  cOffset: number;
  accumulate: boolean;
  alpha: number;
}

/**
 * Refuses arguments the shader would get wrong silently: robust buffer access clamps an index past
 * the end instead of failing, so a short buffer or a stride narrower than a row would give wrong
 * numbers, not an error.
 */
function check(args: MatmulArgs, label: string): Resolved {
  const { m, n, k } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const s: Resolved = {
    m,
    n,
    k,
    lda: args.lda ?? (transA ? m : k),
    ldb: args.ldb ?? (transB ? k : n),
    ldc: args.ldc ?? n,
    aOffset: args.aOffset ?? 0,
    bOffset: args.bOffset ?? 0,
    cOffset: args.cOffset ?? 0,
    accumulate: args.accumulate ?? false,
    alpha: args.alpha ?? 1,
  };
  for (const key of ['m', 'n', 'k', 'lda', 'ldb', 'ldc', 'aOffset', 'bOffset', 'cOffset'] as const) {
    const x = s[key];
    if (!Number.isInteger(x) || x < 0 || x >= 2 ** 32) fail(label, `${key} = ${x} is not a u32`);
  }
  if (!Number.isFinite(s.alpha)) fail(label, `alpha = ${s.alpha} is not finite`);
  // From untyped callers: anything else would silently run in f32.
  if (args.precision !== undefined && args.precision !== 'f32' && args.precision !== 'mixed') fail(label, `precision = ${String(args.precision)} is not 'f32' or 'mixed'`);
  const operand = (name: string, buf: Buf, rows: number, cols: number, ld: number, offset: number) => {
    if (rows === 0 || cols === 0) return;
    if (ld < cols) fail(label, `${name} has rows of ${cols} but a stride of ${ld}`);
    const need = (offset + (rows - 1) * ld + cols) * ELEM_BYTES;
    if (need > buf.size) fail(label, `${name} needs ${need} bytes, its buffer has ${buf.size}`);
    // The shader's indices are u32 element indices.
    if (need / ELEM_BYTES > 2 ** 32) fail(label, `${name} spans more than 2³² elements`);
  };
  operand('A', args.a, transA ? s.k : s.m, transA ? s.m : s.k, s.lda, s.aOffset);
  operand('B', args.b, transB ? s.n : s.k, transB ? s.k : s.n, s.ldb, s.bOffset);
  operand('C', args.c, s.m, s.n, s.ldc, s.cOffset);
  if (s.m * s.n > 0 && (args.c === args.a || args.c === args.b)) fail(label, 'C is the same buffer as an operand');
  return s;
}

// Sums each element's partials in split order, so the bits do not depend on scheduling.
const REDUCE = kernel('matmulReduce', {
  bindings: { partials: read(), c: write() },
  params: { count: 'u32', n: 'u32', splits: 'u32', ldc: 'u32', cOff: 'u32', accumulate: 'u32', alpha: 'f32' },
  body: /* wgsl */ `${ENTRY}
  if (e >= p.count) { return; }
  var sum = partials[e];
  for (var s = 1u; s < p.splits; s++) { sum += partials[s * p.count + e]; }
  let row = e / p.n;
  let i = p.cOff + row * p.ldc + (e - row * p.n);
  var v = p.alpha * sum;
  if (p.accumulate != 0u) { v += c[i]; }
  c[i] = v;
}`,
});

/** Which shader a GEMM gets. */
interface Variant {
  tile: MatmulTile;
  precision: Precision;
  transA: boolean;
  transB: boolean;
  /** vec4 global access for a directly copied A or B, and for C (see the header for when). */
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
}

/** Each variant's kernel, generated once: the plan asks for the same few over and over. */
const kernels = new Map<string, ReturnType<typeof buildGemm>>();

function gemmKernel(v: Variant) {
  const key = JSON.stringify(v);
  let k = kernels.get(key);
  if (k === undefined) {
    k = buildGemm(v);
    kernels.set(key, k);
  }
  return k;
}

/**
 * How one operand gets from global memory into its k-major workgroup tile. `outer` is m for A and
 * n for B; `direct` when its storage is contiguous along `outer` (transposed A, plain B).
 */
interface Operand {
  x: 'a' | 'b';
  shared: 'As' | 'Bs';
  outer: string;
  origin: string;
  ld: string;
  off: string;
  /** The tile's extent along outer, and its row in vec4s. */
  bo: number;
  width: number;
  direct: boolean;
  vec: boolean;
  /** The staged vec4s of one tile, one per invocation (the first `units` of them). */
  units: number;
}

const XS = ['x', 'y', 'z', 'w'];

function buildGemm(v: Variant) {
  const { bm, bn, bk } = v.tile;
  const mixed = v.precision === 'mixed';
  const tm = bm / 16;
  const tn = bn / 16;
  // A k-row of the tile: one k, or (mixed) the pair 2j, 2j + 1.
  const kRows = mixed ? bk / 2 : bk;
  const operand = (x: 'a' | 'b', direct: boolean, vec: boolean, bo: number): Operand => {
    const o = x === 'a' ? { outer: 'p.m', origin: 'm0', ld: 'p.lda', off: 'p.aOff' } : { outer: 'p.n', origin: 'n0', ld: 'p.ldb', off: 'p.bOff' };
    return { x, shared: x === 'a' ? 'As' : 'Bs', ...o, bo, width: bo / 4, direct, vec, units: (kRows * bo) / 4 };
  };
  const A = operand('a', v.transA, v.vecA, bm);
  const B = operand('b', !v.transB, v.vecB, bn);
  const T = mixed ? 'vec4u' : 'vec4f';
  const size = (o: Operand) => kRows * o.width;

  // Loop-invariant: which vec4 of the tile this invocation stages (k-row kr, column col) and where
  // it lives in a buffer. A direct copy takes neighbouring columns, a transposing one neighbouring k.
  const setup = (o: Operand) => {
    const [kr, col, at] = [`${o.x}Kr`, `${o.x}Col`, `${o.x}At`];
    const place = o.direct
      ? `let ${kr} = lid / ${o.width}u; let ${col} = lid % ${o.width}u; let ${at} = lid;`
      : `let ${kr} = lid % ${kRows}u; let ${col} = lid / ${kRows}u; let ${at} = ${kr} * ${o.width}u + (${col} ^ (${kr} & 7u));`;
    return `${place}\n  var r${o.x}0: vec4f;${mixed ? ` var r${o.x}1: vec4f;` : ''}`;
  };
  // Guards a load or store of an operand whose tile is staged by part of the workgroup.
  const mine = (o: Operand, body: string) => (o.units === THREADS ? `{ ${body} }` : `if (lid < ${o.units}u) { ${body} }`);

  // The 4 outer-axis values of the staged vec4 at global k-row `gk` into `dst`, zero outside the matrix.
  const fetch = (o: Operand, dst: string, gk: string) => {
    const go = `(${o.origin} + ${o.x}Col * 4u)`;
    if (o.direct && o.vec) return `${dst} = vec4f(0.0); if (${gk} < p.k && ${go} < ${o.outer}) { ${dst} = ${o.x}[(${o.off} + ${gk} * ${o.ld} + ${go}) >> 2u]; }`;
    const at = (i: number) => (o.direct ? `${o.off} + ${gk} * ${o.ld} + ${go} + ${i}u` : `${o.off} + (${go} + ${i}u) * ${o.ld} + ${gk}`);
    const lanes = [0, 1, 2, 3].map((i) => `if (${go} + ${i}u < ${o.outer}) { ${dst}.${XS[i]} = ${o.x}[${at(i)}]; }`).join(' ');
    return `${dst} = vec4f(0.0); if (${gk} < p.k) { ${lanes} }`;
  };
  const load = (o: Operand) =>
    mine(
      o,
      mixed
        ? `let gk = k0 + ${o.x}Kr * 2u; ${fetch(o, `r${o.x}0`, 'gk')} ${fetch(o, `r${o.x}1`, '(gk + 1u)')}`
        : `let gk = k0 + ${o.x}Kr; ${fetch(o, `r${o.x}0`, 'gk')}`,
    );
  const store = (o: Operand, buffer: string) => {
    const value = mixed ? `vec4u(${XS.map((c) => `pack2x16float(vec2f(r${o.x}0.${c}, r${o.x}1.${c}))`).join(', ')})` : `r${o.x}0`;
    return mine(o, `${o.shared}[${buffer} * ${size(o)}u + ${o.x}At] = ${value};`);
  };

  // Invocation (tx, ty) owns rows 64g + 4ty + r and columns 64h + 4tx + c of the tile: its vec4
  // reads of a k-row of As/Bs are then broadcast across tx (or ty) and contiguous across the other,
  // and its stores to C are whole, coalesced vec4s.
  const acc = (row: number, h: number) => `c${row}_${h}`;
  const accs: string[] = [];
  for (let row = 0; row < tm; row++) for (let h = 0; h < tn / 4; h++) accs.push(`var ${acc(row, h)} = vec4f(0.0);`);
  // The vec4 of k-row kk that holds quad `quad` (ty + 16g or tx + 16h), through the swizzle of a transposed operand.
  const tileRead = (o: Operand, base: string, kk: number, thread: string, j: number) =>
    `${o.shared}[${base} + ${kk * o.width + 16 * j}u + ${o.direct ? thread : `(${thread} ^ ${kk % 8}u)`}]`;
  const step = (kk: number) => {
    const lines: string[] = [];
    for (let g = 0; g < tm / 4; g++) lines.push(`let a${g} = ${tileRead(A, 'aBase', kk, 'ty', g)};`);
    for (let h = 0; h < tn / 4; h++) lines.push(`let b${h} = ${tileRead(B, 'bBase', kk, 'tx', h)};`);
    if (mixed) {
      // B's four columns as one vec4f per k of the pair; A's rows as (k, k + 1) pairs.
      for (let h = 0; h < tn / 4; h++) {
        for (let c = 0; c < 4; c++) lines.push(`let b${h}${XS[c]} = unpack2x16float(b${h}.${XS[c]});`);
        lines.push(`let b${h}e = vec4f(${XS.map((c) => `b${h}${c}.x`).join(', ')});`);
        lines.push(`let b${h}o = vec4f(${XS.map((c) => `b${h}${c}.y`).join(', ')});`);
      }
      for (let g = 0; g < tm / 4; g++) {
        for (let r = 0; r < 4; r++) {
          const a = `a${g}${XS[r]}`;
          lines.push(`let ${a} = unpack2x16float(a${g}.${XS[r]});`);
          for (let h = 0; h < tn / 4; h++) lines.push(`${acc(g * 4 + r, h)} += ${a}.x * b${h}e; ${acc(g * 4 + r, h)} += ${a}.y * b${h}o;`);
        }
      }
    } else {
      for (let g = 0; g < tm / 4; g++) for (let r = 0; r < 4; r++) for (let h = 0; h < tn / 4; h++) lines.push(`${acc(g * 4 + r, h)} += a${g}.${XS[r]} * b${h};`);
    }
    return `{ ${lines.join(' ')} }`;
  };
  const inner = Array.from({ length: kRows }, (_, kk) => step(kk));

  const epilogue: string[] = [];
  for (let g = 0; g < tm / 4; g++) {
    for (let r = 0; r < 4; r++) {
      for (let h = 0; h < tn / 4; h++) {
        const at = `cBase + (r0 + ${g * 64 + r}u) * p.ldc + c0 + ${h * 64}u`;
        const value = `p.alpha * ${acc(g * 4 + r, h)}`;
        let body: string;
        if (v.vecC) {
          body = `if (c0 + ${h * 64}u < p.n) { let i = (${at}) >> 2u; var v = ${value}; if (p.accumulate != 0u) { v += c[i]; } c[i] = v; }`;
        } else {
          const lanes = [0, 1, 2, 3].map(
            (i) => `if (c0 + ${h * 64 + i}u < p.n) { let i = ${at} + ${i}u; var x = v.${XS[i]}; if (p.accumulate != 0u) { x += c[i]; } c[i] = x; }`,
          );
          body = `{ let v = ${value}; ${lanes.join(' ')} }`;
        }
        epilogue.push(`if (r0 + ${g * 64 + r}u < p.m) { ${body} }`);
      }
    }
  }

  const array = (vec: boolean) => (vec ? 'array<vec4f>' : 'array<f32>');
  const name = `matmul ${bm}x${bn}x${bk}${v.transA ? ' tA' : ''}${v.transB ? ' tB' : ''}${v.vecA ? ' a4' : ''}${v.vecB ? ' b4' : ''}${v.vecC ? ' c4' : ''}${mixed ? ' mixed' : ''}`;
  return kernel(name, {
    bindings: { a: read(array(v.vecA)), b: read(array(v.vecB)), c: write(array(v.vecC)) },
    params: {
      m: 'u32',
      n: 'u32',
      k: 'u32',
      lda: 'u32',
      ldb: 'u32',
      ldc: 'u32',
      aOff: 'u32',
      bOff: 'u32',
      cOff: 'u32',
      tilesM: 'u32',
      tilesN: 'u32',
      splits: 'u32',
      kPer: 'u32',
      splitStride: 'u32',
      accumulate: 'u32',
      alpha: 'f32',
    },
    body: /* wgsl */ `
var<workgroup> As: array<${T}, ${2 * size(A)}>;
var<workgroup> Bs: array<${T}, ${2 * size(B)}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tiles = p.tilesM * p.tilesN;
  let gi = wid.y * nwg.x + wid.x;
  if (gi >= tiles * p.splits) { return; }
  let split = gi / tiles;
  let tile = gi - split * tiles;
  // Groups of ${GROUP_M} tile-rows, column by column within a group: a wave of workgroups then reuses
  // a few panels of A and of B from L2 rather than streaming all of B once per tile-row.
  let perGroup = ${GROUP_M}u * p.tilesN;
  let group = tile / perGroup;
  let first = group * ${GROUP_M}u;
  let rows = min(p.tilesM - first, ${GROUP_M}u);
  let within = tile % perGroup;
  let m0 = (first + within % rows) * ${bm}u;
  let n0 = (within / rows) * ${bn}u;
  let tx = lid % 16u;
  let ty = lid / 16u;
  let kBegin = split * p.kPer;
  let kEnd = min(p.k, kBegin + p.kPer);

  ${accs.join('\n  ')}
  ${setup(A)}
  ${setup(B)}

  var k0 = kBegin;
  if (k0 < kEnd) {
    ${load(A)}
    ${load(B)}
    ${store(A, '0u')}
    ${store(B, '0u')}
  }
  workgroupBarrier();
  var cur = 0u;
  for (var t = kBegin; t < kEnd; t += ${bk}u) {
    // The next step's operands are fetched now, so their latency hides behind this step's arithmetic,
    // and stored after it into the other buffer, which nobody reads until the barrier.
    k0 = t + ${bk}u;
    let more = k0 < kEnd;
    if (more) {
      ${load(A)}
      ${load(B)}
    }
    let aBase = cur * ${size(A)}u;
    let bBase = cur * ${size(B)}u;
    ${inner.join('\n    ')}
    if (more) {
      ${store(A, '(cur ^ 1u)')}
      ${store(B, '(cur ^ 1u)')}
    }
    workgroupBarrier();
    cur ^= 1u;
  }

  let cBase = p.cOff + split * p.splitStride;
  let r0 = m0 + ty * 4u;
  let c0 = n0 + tx * 4u;
  ${epilogue.join('\n  ')}
}
`,
  });
}
