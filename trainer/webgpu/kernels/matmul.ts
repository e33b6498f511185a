/**
 * General matrix product for the WebGPU engine: C = alpha·op(A)·op(B) (+ C), f32, row-major, with
 * either operand transposed, element offsets and row strides (so a column chunk of a weight or of its
 * gradient can be read or written in place), and accumulation (gradients add up over micro-batches).
 *
 * Design. Each workgroup of 256 invocations (16×16) owns one BM×BN tile of C and walks k in steps of
 * BK, staging both operands through workgroup memory; each invocation keeps a (BM/16)×(BN/16) block
 * of C in registers. Two tilings: 64×64 with BK = 16 (4×4 per invocation), and 128×128 with BK = 8
 * (8×8 per invocation, twice the arithmetic per shared-memory read) for problems big enough to fill
 * a large GPU with it. Both need ≤ 9 KiB of workgroup memory and keep to WebGPU's default limits.
 *
 * Both operands are staged k-major (As[kk][m], Bs[kk][n]) so that the inner loop reads one vec4 of A
 * and one of B per 4×4 block, contiguous across invocations (no bank conflicts) and broadcast across
 * the other axis. An operand whose storage is contiguous along m (or n) is copied straight across,
 * one vec4 per invocation, fully coalesced; one contiguous along k is read as 4×4 blocks (4 rows ×
 * 4 consecutive k) by 64 invocations (different ones for A and B) and transposed in registers, so
 * that every workgroup-memory store is a whole vec4: a store to a dynamically chosen component of a
 * shared vector may be lowered to a read-modify-write of the whole vector (Tint does so for HLSL's
 * sake), which would race between invocations writing neighbouring components.
 *
 * vec4 global loads and stores are used per operand when its offset, row stride and extent along the
 * contiguous axis are all multiples of 4 (then a vec4 is either wholly inside the matrix or wholly
 * outside it); otherwise that operand takes the scalar path, with per-element bounds checks. The next
 * k-step's operands are fetched into registers while the current one is being multiplied.
 *
 * Workgroups are numbered linearly (folded into a 2-D grid when there are more than the per-dimension
 * limit) and mapped to tiles in groups of 8 tile-rows, so that consecutive workgroups share panels of
 * both A and B in L2.
 *
 * Mixed precision ('mixed'): f16 operands, f32 accumulation. Global memory stays f32 (so buffers,
 * offsets, strides, alpha and accumulation are those of the f32 mode); the operands are rounded to
 * half precision on their way into workgroup memory, with pack2x16float, which is core WGSL and needs
 * no shader-f16, so the mode runs on every adapter. Each u32 of a staged tile holds a pair of
 * consecutive k (2j, 2j + 1) for one m (or n), and each vec4<u32> four consecutive m (or n): the
 * layout, padding and access pattern of the f32 tile, with one k-row now holding two k-steps. A tile
 * of a given BK then takes half the workgroup memory, and the mixed tilings spend that on twice the
 * BK (64×64×32, 128×128×16) in the same footprint: half the barriers and loop trips per k, and each
 * vec4 read of workgroup memory feeds twice the arithmetic. A direct copy fetches two k-rows per
 * invocation and interleaves them; a transposing one already holds 4 consecutive k per row, and
 * with a tile of 2048 values it takes 128 invocations per operand instead of 64. Odd k needs nothing
 * special: a pair's missing half is zero, like any other out-of-range value.
 *
 * Covered by test/trainer/webgpu/kernels/matmul.test.ts.
 */
import { type Dispatch, type Gpu, params } from '../gpu.ts';

export interface MatmulArgs {
  /** C is m×n, op(A) is m×k, op(B) is k×n. */
  m: number;
  n: number;
  k: number;
  /** f32, row-major. C must not be the same buffer as A or B (WebGPU forbids a writable alias). */
  a: GPUBuffer;
  b: GPUBuffer;
  c: GPUBuffer;
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
  precision?: MatmulPrecision;
}

export type MatmulPrecision = 'f32' | 'mixed';

/** One tiling: the workgroup's tile of C is bm×bn, k advances bk at a time; 256 invocations. */
export interface MatmulTile {
  bm: number;
  bn: number;
  bk: number;
}

export const TILE_64: MatmulTile = { bm: 64, bn: 64, bk: 16 };
export const TILE_128: MatmulTile = { bm: 128, bn: 128, bk: 8 };
/** The mixed-precision tilings: the same workgroup memory as their f32 counterparts buys twice the BK. */
export const TILE_64_MIXED: MatmulTile = { bm: 64, bn: 64, bk: 32 };
export const TILE_128_MIXED: MatmulTile = { bm: 128, bn: 128, bk: 16 };

/** Which pipeline a problem gets. */
export interface MatmulVariant {
  tile: MatmulTile;
  precision: MatmulPrecision;
  transA: boolean;
  transB: boolean;
  /** vec4 global access for A, B and C (see the header for when). */
  vecA: boolean;
  vecB: boolean;
  vecC: boolean;
}

/**
 * The storage element type of A, B and C, in one place. The mixed mode keeps it: it rounds to f16
 * only in workgroup memory. Half-precision storage would change it here (and the byte sizes in
 * `check`).
 */
const ELEM = 'f32';
const ELEM_BYTES = 4;

const THREADS = 256;
/** Tile rows per L2 group in the workgroup-to-tile mapping. */
const GROUP_M = 8;
/**
 * The 128×128 tiling wants at least this many of its own tiles: below that a large GPU (132 SMs on an
 * H200) would sit partly idle, and the 64×64 tiling's four times as many workgroups do better.
 */
const MIN_BIG_TILES = 256;

/** The pipeline `matmul` picks for these arguments. */
export function matmulVariant(args: MatmulArgs): MatmulVariant {
  const { m, n } = args;
  const big = m >= 256 && n >= 256 && Math.ceil(m / 128) * Math.ceil(n / 128) >= MIN_BIG_TILES;
  if (args.precision === 'mixed') return variantFor(args, big ? TILE_128_MIXED : TILE_64_MIXED);
  return variantFor(args, big ? TILE_128 : TILE_64);
}

/** C = alpha·op(A)·op(B) (+ C): one dispatch, its uniform block made here once, to be replayed. */
export function matmul(gpu: Gpu, args: MatmulArgs, label = 'matmul'): Dispatch {
  return matmulWith(gpu, args, {}, label);
}

/**
 * `matmul` with its choices overridden, for tests: the tiling (to cover both on small shapes; one of
 * the precision's own, TILE_*_MIXED for 'mixed') and the per-dimension workgroup limit (to exercise
 * the folded grid without a huge problem).
 */
export function matmulWith(
  gpu: Gpu,
  args: MatmulArgs,
  options: { tile?: MatmulTile; maxWorkgroupsPerDimension?: number },
  label = 'matmul',
): Dispatch {
  const s = check(args, label);
  const tile = options.tile ?? matmulVariant(args).tile;
  const v = variantFor(args, tile);
  const tilesM = Math.ceil(s.m / tile.bm);
  const tilesN = Math.ceil(s.n / tile.bn);
  const tiles = tilesM * tilesN;
  const max = options.maxWorkgroupsPerDimension ?? gpu.device.limits.maxComputeWorkgroupsPerDimension;
  // Fold a long line of workgroups into a 2-D grid; the shader unfolds it with gx and skips the spare
  // ones in the last row.
  const gx = Math.min(tiles, max);
  const gy = tiles === 0 ? 1 : Math.ceil(tiles / gx);
  if (gy > max) throw new RangeError(`${label}: ${tiles} tiles of ${tile.bm}×${tile.bn} are more than ${max}² workgroups`);
  const uniform = gpu.uniform(
    params([
      ['u32', s.m],
      ['u32', s.n],
      ['u32', s.k],
      ['u32', s.lda],
      ['u32', s.ldb],
      ['u32', s.ldc],
      ['u32', s.aOffset],
      ['u32', s.bOffset],
      ['u32', s.cOffset],
      ['u32', tilesM],
      ['u32', tilesN],
      ['u32', gx],
      ['u32', s.accumulate ? 1 : 0],
      ['f32', s.alpha],
    ]),
    `${label} params`,
  );
  const code = matmulWgsl(v);
  const name = `matmul ${tile.bm}x${tile.bn}${v.transA ? ' tA' : ''}${v.transB ? ' tB' : ''}${v.vecA ? ' a4' : ''}${v.vecB ? ' b4' : ''}${v.vecC ? ' c4' : ''}${v.precision === 'mixed' ? ' mixed' : ''}`;
  return gpu.dispatch(label, gpu.pipeline(name, code), [args.a, args.b, args.c, uniform], [gx, gy, 1]);
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

function resolve(args: MatmulArgs): Resolved {
  const { m, n, k } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  return {
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
}

function variantFor(args: MatmulArgs, tile: MatmulTile): MatmulVariant {
  const s = resolve(args);
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const by4 = (...xs: number[]) => xs.every((x) => x % 4 === 0);
  return {
    tile,
    precision: args.precision ?? 'f32',
    transA,
    transB,
    vecA: by4(s.lda, s.aOffset, transA ? s.m : s.k),
    vecB: by4(s.ldb, s.bOffset, transB ? s.k : s.n),
    vecC: by4(s.ldc, s.cOffset, s.n),
  };
}

/**
 * Refuses arguments the shader would get wrong silently: robust buffer access clamps an index past
 * the end instead of failing, so a short buffer or a stride narrower than a row would give wrong
 * numbers, not an error.
 */
function check(args: MatmulArgs, label: string): Resolved {
  const s = resolve(args);
  const fail = (what: string) => {
    throw new RangeError(`${label}: ${what}`);
  };
  for (const key of ['m', 'n', 'k', 'lda', 'ldb', 'ldc', 'aOffset', 'bOffset', 'cOffset'] as const) {
    const x = s[key];
    if (!Number.isInteger(x) || x < 0 || x >= 2 ** 32) fail(`${key} = ${x} is not a u32`);
  }
  if (!Number.isFinite(s.alpha)) fail(`alpha = ${s.alpha} is not finite`);
  // From untyped callers: anything else would silently run in f32.
  if (args.precision !== undefined && args.precision !== 'f32' && args.precision !== 'mixed') fail(`precision = ${String(args.precision)} is not 'f32' or 'mixed'`);
  const operand = (name: string, buf: GPUBuffer, rows: number, cols: number, ld: number, offset: number) => {
    if (rows === 0 || cols === 0) return;
    if (ld < cols) fail(`${name} has rows of ${cols} but a stride of ${ld}`);
    const need = (offset + (rows - 1) * ld + cols) * ELEM_BYTES;
    if (need > buf.size) fail(`${name} needs ${need} bytes, its buffer has ${buf.size}`);
    // The shader's indices are u32 element indices.
    if (need / ELEM_BYTES > 2 ** 32) fail(`${name} spans more than 2³² elements`);
  };
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  operand('A', args.a, transA ? s.k : s.m, transA ? s.m : s.k, s.lda, s.aOffset);
  operand('B', args.b, transB ? s.n : s.k, transB ? s.k : s.n, s.ldb, s.bOffset);
  operand('C', args.c, s.m, s.n, s.ldc, s.cOffset);
  if (s.m * s.n > 0 && (args.c === args.a || args.c === args.b)) fail('C is the same buffer as an operand');
  return s;
}

/**
 * How one operand gets from global memory into its k-major workgroup tile. `outer` is m for A and
 * n for B; `direct` when its storage is contiguous along `outer` (transposed A, plain B).
 */
interface Operand {
  x: 'a' | 'b';
  /** The first of the invocations (64, or 128 when mixed) that load this operand when it is transposed on the way in. */
  first: number;
  buf: string;
  shared: string;
  outer: string;
  origin: string;
  ld: string;
  off: string;
  bo: number;
  direct: boolean;
  vec: boolean;
}

/** The WGSL for one variant; pure, so the pipeline cache keys on it. */
export function matmulWgsl(v: MatmulVariant): string {
  const { bm, bn, bk } = v.tile;
  const tm = bm / 16;
  const tn = bn / 16;
  const mixed = v.precision === 'mixed';
  if (bm % 64 !== 0 || bn % 64 !== 0 || bk % 4 !== 0) throw new Error(`matmul: unsupported tile ${bm}×${bn}×${bk}`);
  // One vec4 per invocation for a direct copy, one 4×4 block per invocation (of 64) for a transposing
  // one: both tilings are chosen so that a tile of either operand is exactly 1024 values. A and B
  // are transposed by different warps, so that neither does both. Mixed tiles are 2048 values: two
  // vec4s per invocation, or 128 invocations' 4×4 blocks.
  const perThread = mixed ? 8 : 4;
  if (bm * bk !== perThread * THREADS || bn * bk !== perThread * THREADS) {
    throw new Error(`matmul: a ${bm}×${bn}×${bk} tile does not load in one pass${mixed ? ' at mixed precision' : ''}`);
  }
  const loaders = (bm * bk) / 16;
  const A: Operand = { x: 'a', first: 0, buf: 'A', shared: 'As', outer: 'p.m', origin: 'm0', ld: 'p.lda', off: 'p.aOff', bo: bm, direct: v.transA, vec: v.vecA };
  const B: Operand = { x: 'b', first: 128, buf: 'B', shared: 'Bs', outer: 'p.n', origin: 'n0', ld: 'p.ldb', off: 'p.bOff', bo: bn, direct: !v.transB, vec: v.vecB };
  const T = `vec4<${ELEM}>`;
  const storage = (name: string, vec: boolean, access: string) =>
    `@group(0) @binding(${'ABC'.indexOf(name)}) var<storage, ${access}> ${name}: array<${vec ? T : ELEM}>;`;
  // Rows padded by one vec4: the transposing stores of neighbouring invocations then fall in
  // different banks instead of the same one.
  const stride = (bo: number) => bo / 4 + 1;
  // A workgroup tile's element: 4 values of one k-row, or (mixed) 4 packed pairs of k.
  const shared = mixed ? 'vec4u' : 'vec4f';
  const kRows = mixed ? bk / 2 : bk;

  const regs = (o: Operand) => {
    if (o.direct && !mixed) return `var r${o.x}: vec4f;`;
    // A mixed direct copy holds both k-rows of its pair until they are packed together.
    const count = o.direct ? 2 : 4;
    return Array.from({ length: count }, (_, r) => `var r${o.x}${r}: vec4f;`).join(' ');
  };

  // One 4-wide run of an operand starting at element `base`, of which the first `valid` lanes'
  // conditions are given: a vec4 when aligned (all lanes share one condition), else four scalars.
  const fetch = (o: Operand, dst: string, base: string, rowOk: string, lane: (i: number) => string) => {
    if (o.vec) return `${dst} = vec4f(0.0); if (${rowOk} && ${lane(0)}) { ${dst} = vec4f(${o.buf}[(${base}) >> 2u]); }`;
    const lanes = [0, 1, 2, 3].map((i) => `if (${lane(i)}) { ${dst}[${i}] = f32(${o.buf}[${base} + ${i}u]); }`).join(' ');
    return `${dst} = vec4f(0.0); if (${rowOk}) { ${lanes} }`;
  };

  // lid below `first` wraps to a large u32, so one comparison selects the loaders.
  const local = (o: Operand) => (o.first === 0 ? 'lid' : `(lid - ${o.first}u)`);
  const mine = (o: Operand) => `${local(o)} < ${loaders}u`;

  const load = (o: Operand) => {
    if (o.direct && mixed) {
      // Invocation i copies 4 consecutive outer-axis values at both k of one pair; in each of the two
      // fetches neighbouring invocations still read neighbouring vec4s of a k-row, as in the f32 copy.
      return `{
      let kp = lid / ${o.bo / 4}u; let oq = (lid % ${o.bo / 4}u) * 4u;
      let gk = k0 + kp * 2u; let go = ${o.origin} + oq;
      ${fetch(o, `r${o.x}0`, `${o.off} + gk * ${o.ld} + go`, `gk < p.k`, (i) => `go + ${i}u < ${o.outer}`)}
      ${fetch(o, `r${o.x}1`, `${o.off} + (gk + 1u) * ${o.ld} + go`, `gk + 1u < p.k`, (i) => `go + ${i}u < ${o.outer}`)}
    }`;
    }
    if (o.direct) {
      // Invocation i copies 4 consecutive outer-axis values at one k: a warp reads 512 contiguous bytes.
      return `{
      let kk = lid / ${o.bo / 4}u; let oq = (lid % ${o.bo / 4}u) * 4u;
      let gk = k0 + kk; let go = ${o.origin} + oq;
      ${fetch(o, `r${o.x}`, `${o.off} + gk * ${o.ld} + go`, `gk < p.k`, (i) => `go + ${i}u < ${o.outer}`)}
    }`;
    }
    // 4 outer-axis rows × 4 consecutive k per invocation; neighbouring invocations take neighbouring
    // k, so each row's run of bk values is read by consecutive invocations.
    const rows = [0, 1, 2, 3]
      .map((r) => fetch(o, `r${o.x}${r}`, `${o.off} + (go + ${r}u) * ${o.ld} + gk`, `go + ${r}u < ${o.outer}`, (i) => `gk + ${i}u < p.k`))
      .join('\n        ');
    return `if (${mine(o)}) {
      let ob = ${local(o)} / ${bk / 4}u; let kq = (${local(o)} % ${bk / 4}u) * 4u;
      let gk = k0 + kq; let go = ${o.origin} + ob * 4u;
        ${rows}
    }`;
  };

  const store = (o: Operand) => {
    const s = stride(o.bo);
    const xs = ['x', 'y', 'z', 'w'];
    if (mixed) {
      const pack = (lo: string, hi: string) => `pack2x16float(vec2f(${lo}, ${hi}))`;
      if (o.direct) {
        const pairs = xs.map((c) => pack(`r${o.x}0.${c}`, `r${o.x}1.${c}`)).join(', ');
        return `${o.shared}[(lid / ${o.bo / 4}u) * ${s}u + lid % ${o.bo / 4}u] = vec4u(${pairs});`;
      }
      // Row r's 4 consecutive k are the pairs (x, y) and (z, w): two k-rows of the tile.
      const row = (half: number) =>
        [0, 1, 2, 3].map((r) => pack(`r${o.x}${r}.${xs[2 * half]}`, `r${o.x}${r}.${xs[2 * half + 1]}`)).join(', ');
      return `if (${mine(o)}) {
      let ob = ${local(o)} / ${bk / 4}u; let kq = (${local(o)} % ${bk / 4}u) * 4u;
      ${o.shared}[(kq / 2u) * ${s}u + ob] = vec4u(${row(0)});
      ${o.shared}[(kq / 2u + 1u) * ${s}u + ob] = vec4u(${row(1)});
    }`;
    }
    if (o.direct) return `${o.shared}[(lid / ${o.bo / 4}u) * ${s}u + lid % ${o.bo / 4}u] = r${o.x};`;
    const lines = [0, 1, 2, 3].map(
      (c) => `${o.shared}[(kq + ${c}u) * ${s}u + ob] = vec4f(r${o.x}0.${xs[c]}, r${o.x}1.${xs[c]}, r${o.x}2.${xs[c]}, r${o.x}3.${xs[c]});`,
    );
    return `if (${mine(o)}) {
      let ob = ${local(o)} / ${bk / 4}u; let kq = (${local(o)} % ${bk / 4}u) * 4u;
      ${lines.join('\n      ')}
    }`;
  };

  // Invocation (tx, ty) owns rows g·64 + ty·4 + r and columns h·64 + tx·4 + c of the tile: its vec4
  // reads of a k-row of As/Bs are then contiguous across tx (or ty), and its stores to C are whole,
  // coalesced vec4s.
  const acc = (row: number, h: number) => `c${row}_${h}`;
  const accs: string[] = [];
  for (let row = 0; row < tm; row++) for (let h = 0; h < tn / 4; h++) accs.push(`var ${acc(row, h)} = vec4f(0.0);`);
  const inner: string[] = [];
  const xs = ['x', 'y', 'z', 'w'];
  // One k-row of the tile: one k, or (mixed) the pair 2kk, 2kk + 1, each accumulator taking them in order.
  const step = (kk: number) => {
    const lines: string[] = [];
    if (mixed) {
      // B's four columns as one vec4f per k of the pair; A's rows as (k, k + 1) pairs.
      for (let g = 0; g < tm / 4; g++) lines.push(`let a${g} = As[${kk * stride(bm) + g * 16}u + ty];`);
      for (let h = 0; h < tn / 4; h++) {
        lines.push(`let b${h} = Bs[${kk * stride(bn) + h * 16}u + tx];`);
        for (let c = 0; c < 4; c++) lines.push(`let b${h}${xs[c]} = unpack2x16float(b${h}.${xs[c]});`);
        lines.push(`let b${h}e = vec4f(${xs.map((c) => `b${h}${c}.x`).join(', ')});`);
        lines.push(`let b${h}o = vec4f(${xs.map((c) => `b${h}${c}.y`).join(', ')});`);
      }
      for (let g = 0; g < tm / 4; g++) {
        for (let r = 0; r < 4; r++) {
          const a = `a${g}${xs[r]}`;
          lines.push(`let ${a} = unpack2x16float(a${g}.${xs[r]});`);
          for (let h = 0; h < tn / 4; h++) lines.push(`${acc(g * 4 + r, h)} += ${a}.x * b${h}e; ${acc(g * 4 + r, h)} += ${a}.y * b${h}o;`);
        }
      }
      return `{ ${lines.join(' ')} }`;
    }
    for (let g = 0; g < tm / 4; g++) lines.push(`let a${g} = As[${kk * stride(bm) + g * 16}u + ty];`);
    for (let h = 0; h < tn / 4; h++) lines.push(`let b${h} = Bs[${kk * stride(bn) + h * 16}u + tx];`);
    for (let g = 0; g < tm / 4; g++)
      for (let r = 0; r < 4; r++) for (let h = 0; h < tn / 4; h++) lines.push(`${acc(g * 4 + r, h)} += a${g}.${xs[r]} * b${h};`);
    return `{ ${lines.join(' ')} }`;
  };
  for (let kk = 0; kk < kRows; kk++) inner.push(step(kk));

  const epilogue: string[] = [];
  for (let g = 0; g < tm / 4; g++) {
    for (let r = 0; r < 4; r++) {
      const row = g * 4 + r;
      for (let h = 0; h < tn / 4; h++) {
        const at = `p.cOff + (r0 + ${g * 64 + r}u) * p.ldc + c0 + ${h * 64}u`;
        const value = `p.alpha * ${acc(row, h)}`;
        let body: string;
        if (v.vecC) {
          body = `if (c0 + ${h * 64}u < p.n) { let i = (${at}) >> 2u; var v = ${value}; if (p.accumulate != 0u) { v += vec4f(C[i]); } C[i] = ${T}(v); }`;
        } else {
          const lanes = [0, 1, 2, 3].map(
            (c) =>
              `if (c0 + ${h * 64 + c}u < p.n) { let i = ${at} + ${c}u; var x = v.${xs[c]}; if (p.accumulate != 0u) { x += f32(C[i]); } C[i] = ${ELEM}(x); }`,
          );
          body = `{ let v = ${value}; ${lanes.join(' ')} }`;
        }
        epilogue.push(`if (r0 + ${g * 64 + r}u < p.m) { ${body} }`);
      }
    }
  }

  return /* wgsl */ `
struct P {
  m: u32, n: u32, k: u32,
  lda: u32, ldb: u32, ldc: u32,
  aOff: u32, bOff: u32, cOff: u32,
  tilesM: u32, tilesN: u32, gx: u32,
  accumulate: u32, alpha: f32,
}
${storage('A', v.vecA, 'read')}
${storage('B', v.vecB, 'read')}
${storage('C', v.vecC, 'read_write')}
@group(0) @binding(3) var<uniform> p: P;

var<workgroup> As: array<${shared}, ${kRows * stride(bm)}>;
var<workgroup> Bs: array<${shared}, ${kRows * stride(bn)}>;

@compute @workgroup_size(${THREADS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = wid.y * p.gx + wid.x;
  if (tile >= p.tilesM * p.tilesN) { return; }
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

  ${accs.join('\n  ')}
  ${regs(A)} ${regs(B)}

  var k0 = 0u;
  ${load(A)}
  ${load(B)}
  for (var t = 0u; t < p.k; t += ${bk}u) {
    ${store(A)}
    ${store(B)}
    workgroupBarrier();
    // Fetch the next step's operands now, so their latency hides behind this step's arithmetic.
    k0 = t + ${bk}u;
    if (k0 < p.k) {
      ${load(A)}
      ${load(B)}
    }
    ${inner.join('\n    ')}
    workgroupBarrier();
  }

  let r0 = m0 + ty * 4u;
  let c0 = n0 + tx * 4u;
  ${epilogue.join('\n  ')}
}
`;
}
