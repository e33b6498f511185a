/**
 * The WebGPU engine's training step as data, in the style of llm.c: a pure function of the model's
 * shape, the micro-batch (rows × sequence length), the precision and the device's limits returns every
 * buffer the step uses and its ordered kernel calls, each with its workgroups, FLOPs and bytes. The
 * engine binds this plan to a device and replays it; nothing else decides what runs. Without a GPU
 * the plan is the evidence of what a step costs (`npm run bench:gpu -- --plan`).
 *
 * Four stages, each its own function: buffers, forward (through the loss), backward, update.
 *
 * Covered by test/trainer/webgpu/plan.test.ts, and through the engine by webgpu-engine.test.ts.
 */
import type { Precision } from '../../schemas/enums.ts';
import type { ModelConfig } from '../../schemas/train.ts';
import { paramLayout } from '../param-layout.ts';
import { ropeTables } from '../rope-tables.ts';
import { type Buf, type Call, type Context, DEFAULT_LIMITS, type Limits } from './kernel.ts';
import { adamw, clipFactor, sumSquares, sumSquaresPartialFloats } from './kernels/adamw.ts';
import { attentionBackward, attentionBackwardScratchFloats, attentionForward } from './kernels/attention.ts';
import { copy } from './kernels/elementwise.ts';
import { embeddingBackward, embeddingForward } from './kernels/embedding.ts';
import { ceChunkGrad, ceChunkStats, ceFinish, ceInit } from './kernels/loss.ts';
import { type MatmulArgs, matmul, matmulChoice } from './kernels/matmul.ts';
import { rmsNormBackward, rmsNormForward, rmsNormPartialFloats } from './kernels/norm.ts';
import { ropeBackward, ropeForward } from './kernels/rope.ts';
import { swigluBackward, swigluForward } from './kernels/swiglu.ts';

/** Columns of the LM head per chunk: bounds one chunk's logits to rows × CHUNK floats. */
const CHUNK = 8192;

/**
 * The most bytes of logits the plan keeps between the loss and the backward (else the backward
 * computes them again, one more pass through the LM head). WebGPU tells no device's memory size;
 * 2 GiB beside the 100m and 1b presets' activations fits every GPU the engine is meant for, and holds
 * 8 × 1024 tokens × a 32064-row vocabulary (1.05 GB).
 */
const LOGITS_BUDGET = 2 ** 31;

/** The kernel families a step's time and FLOPs are reported by (`bench:gpu --profile`). */
export const FAMILIES = [
  'matmul forward',
  'matmul backward',
  'attention forward',
  'attention backward',
  'lm head and loss',
  'norms and elementwise',
  'optimizer',
] as const;
export type Family = (typeof FAMILIES)[number];

/** A buffer of the plan; the engine makes one GPUBuffer for each. Sizes may grow while the plan is made. */
export interface PlanBuffer extends Buf {
  size: number;
  kind: 'storage' | 'uniform';
  /** Constant contents, uploaded once (RoPE's tables). */
  data?: Float32Array;
}

export interface Planned {
  call: Call;
  family: Family;
}

export interface PlanParam {
  name: string;
  shape: number[];
  count: number;
  decay: boolean;
  value: PlanBuffer;
  grad: PlanBuffer;
  m: PlanBuffer;
  v: PlanBuffer;
}

export interface GemmInfo {
  name: string;
  m: number;
  n: number;
  k: number;
  tile: string;
  splitK: number;
  workgroups: number;
}

export const INPUTS = ['ids', 'positions', 'docStart', 'docEnd', 'targets', 'order', 'segStart', 'segId', 'segCount'] as const;
export type InputName = (typeof INPUTS)[number];

export interface PlanOptions {
  model: ModelConfig;
  rows: number;
  seqLen: number;
  precision: Precision;
  /** Micro-batches one optimizer step may take: one loss slot each. */
  micros: number;
  /** The device's, or WebGPU's defaults when planning without one. */
  limits?: Limits;
  /** Overrides the LOGITS_BUDGET decision (tests cover both ways). */
  keepLogits?: boolean;
}

export interface StepPlan {
  options: PlanOptions;
  buffers: PlanBuffer[];
  params: PlanParam[];
  inputs: Record<InputName, PlanBuffer>;
  /** Micro-batch loss sums, then the squared gradient norm: the step's one read. */
  stats: PlanBuffer;
  /** AdamW's per-step uniform (step, lr, clip, …), written by the host before the update. */
  hyper: PlanBuffer;
  /** One micro-batch: forward with the loss, then backward (its weight gradients accumulate). */
  forward: Planned[];
  /** Per loss slot: the micro-batch's loss into stats[slot]; runs between forward and backward. */
  finish: Planned[][];
  backward: Planned[];
  update: Planned[];
  /** The GEMMs of one micro-batch, each distinct shape once, in order of first use. */
  gemms: GemmInfo[];
  keepLogits: boolean;
}

/** What the stages share: the context, the options, and the buffers by role. */
interface Stage {
  ctx: Context;
  o: PlanOptions;
  b: Buffers;
  out: Planned[];
  gemms: Map<string, GemmInfo>;
}

export function planStep(o: PlanOptions): StepPlan {
  const ctx: Context = { limits: o.limits ?? DEFAULT_LIMITS };
  const b = planBuffers(ctx, o);
  const gemms = new Map<string, GemmInfo>();
  const stage = (): Stage => ({ ctx, o, b, out: [], gemms });
  const fwd = stage();
  planForward(fwd);
  const finish = Array.from({ length: o.micros }, (_, slot) =>
    ceFinish(ctx, { n: o.rows * o.seqLen, slot }, { ...b.ce, loss: b.stats }).map((call): Planned => ({ call, family: 'lm head and loss' })),
  );
  const bwd = stage();
  planBackward(bwd);
  const upd = stage();
  planUpdate(upd);
  return {
    options: o,
    buffers: b.all,
    params: b.params,
    inputs: b.inputs,
    stats: b.stats,
    hyper: b.hyper,
    forward: fwd.out,
    finish,
    backward: bwd.out,
    update: upd.out,
    gemms: [...gemms.values()],
    keepLogits: b.keepLogits,
  };
}

interface LayerActs {
  x: PlanBuffer; // the residual stream entering the layer
  a: PlanBuffer; // attention input, normed
  rstd1: PlanBuffer;
  q: PlanBuffer; // RoPE'd and scaled
  k: PlanBuffer; // RoPE'd
  v: PlanBuffer;
  o: PlanBuffer; // attention output, heads merged
  lse: PlanBuffer;
  xMid: PlanBuffer; // x + attention
  m: PlanBuffer; // MLP input, normed
  rstd2: PlanBuffer;
  gate: PlanBuffer;
  up: PlanBuffer;
  act: PlanBuffer;
}

interface Buffers {
  all: PlanBuffer[];
  params: PlanParam[];
  byName: (name: string) => PlanParam;
  inputs: Record<InputName, PlanBuffer>;
  acts: LayerActs[];
  /** Shared scratch: each is live within one layer's forward or backward only. */
  s: Record<
    'xLast' | 'hf' | 'rstdF' | 'qRaw' | 'kRaw' | 'dx' | 'dh' | 'dq' | 'dk' | 'dv' | 'dqRaw' | 'dkRaw' | 'dAct' | 'dGate' | 'dUp' | 'normPartial' | 'splitK' | 'attention',
    PlanBuffer
  >;
  cos: PlanBuffer;
  sin: PlanBuffer;
  chunks: Array<{ c0: number; n: number; logits: PlanBuffer }>;
  keepLogits: boolean;
  ce: Record<'max' | 'sum' | 'picked' | 'lse', PlanBuffer>;
  stats: PlanBuffer;
  hyper: PlanBuffer;
  normSums: PlanBuffer;
  factor: PlanBuffer;
}

function planBuffers(ctx: Context, o: PlanOptions): Buffers {
  const cfg = o.model;
  const { hidden: H, intermediate: I, heads, kvHeads, layers: L, vocabRows: V } = cfg;
  const kv = kvHeads * (H / heads);
  const N = o.rows * o.seqLen;
  const all: PlanBuffer[] = [];
  const buf = (label: string, floats: number, kind: PlanBuffer['kind'] = 'storage', data?: Float32Array): PlanBuffer => {
    const b: PlanBuffer = { label, size: Math.max(4, floats * 4), kind, ...(data && { data }) };
    all.push(b);
    return b;
  };
  const params = paramLayout(cfg).map((p): PlanParam => {
    const count = p.shape.reduce((a, x) => a * x, 1);
    const f = (what: string) => buf(`${p.name}${what}`, count);
    return { name: p.name, shape: [...p.shape], count, decay: p.kind === 'matrix', value: f(''), grad: f(' grad'), m: f(' m'), v: f(' v') };
  });
  const byName = new Map(params.map((p) => [p.name, p]));
  const inputs = Object.fromEntries(INPUTS.map((name) => [name, buf(name, name === 'segStart' ? N + 1 : name === 'segCount' ? 1 : N)])) as Record<InputName, PlanBuffer>;
  const acts: LayerActs[] = [];
  for (let l = 0; l < L; l++) {
    const f = (label: string, floats: number) => buf(`layer ${l} ${label}`, floats);
    acts.push({
      x: f('x', N * H),
      a: f('a', N * H),
      rstd1: f('rstd1', N),
      q: f('q', N * H),
      k: f('k', N * kv),
      v: f('v', N * kv),
      o: f('o', N * H),
      lse: f('lse', N * heads),
      xMid: f('xMid', N * H),
      m: f('m', N * H),
      rstd2: f('rstd2', N),
      gate: f('gate', N * I),
      up: f('up', N * I),
      act: f('act', N * I),
    });
  }
  const attention = { rows: o.rows, length: o.seqLen, heads, kvHeads, headDim: H / heads };
  const s = {
    xLast: buf('x final', N * H),
    hf: buf('final normed', N * H),
    rstdF: buf('final rstd', N),
    qRaw: buf('q raw', N * H),
    kRaw: buf('k raw', N * kv),
    dx: buf('dx', N * H),
    dh: buf('dh', N * H),
    dq: buf('dq', N * H),
    dk: buf('dk', N * kv),
    dv: buf('dv', N * kv),
    dqRaw: buf('dq raw', N * H),
    dkRaw: buf('dk raw', N * kv),
    dAct: buf('dact', N * I),
    dGate: buf('dgate', N * I),
    dUp: buf('dup', N * I),
    normPartial: buf('norm partial', rmsNormPartialFloats(N, H)),
    // Grown to the largest split of any GEMM as the stages plan them.
    splitK: buf('split-k partials', 1),
    attention: buf('attention scratch', attentionBackwardScratchFloats(ctx, attention)),
  };
  const rope = ropeTables(cfg, o.seqLen);
  const cos = buf('rope cos', rope.cos.length, 'storage', rope.cos);
  const sin = buf('rope sin', rope.sin.length, 'storage', rope.sin);
  // One chunk's logits must fit one storage binding: fewer columns per chunk where bindings are small.
  const chunk = Math.min(CHUNK, V, Math.max(4, Math.floor(ctx.limits.maxStorageBufferBindingSize / (4 * N) / 4) * 4));
  const keepLogits = o.keepLogits ?? N * V * 4 <= LOGITS_BUDGET;
  const chunks: Buffers['chunks'] = [];
  const shared = keepLogits ? null : buf('logits chunk', N * chunk);
  for (let c0 = 0; c0 < V; c0 += chunk) {
    const n = Math.min(chunk, V - c0);
    chunks.push({ c0, n, logits: shared ?? buf(`logits ${c0}`, N * n) });
  }
  const ce = { max: buf('ce max', N), sum: buf('ce sum', N), picked: buf('ce picked', N), lse: buf('ce lse', N) };
  const stats = buf('stats', o.micros + 1);
  const hyper = buf('adamw hyper', 16, 'uniform');
  const normSums = buf('norm partial sums', sumSquaresPartialFloats(params.map((p) => ({ buffer: p.grad, count: p.count }))));
  const factor = buf('clip factor', 2);
  for (const b of all) {
    if (b.kind === 'storage' && b.size > ctx.limits.maxStorageBufferBindingSize) {
      throw new RangeError(`${b.label}: ${(b.size / 2 ** 20).toFixed(0)} MiB in one binding, more than this GPU's ${(ctx.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`);
    }
  }
  return { all, params, byName: (name) => byName.get(name)!, inputs, acts, s, cos, sin, chunks, keepLogits, ce, stats, hyper, normSums, factor };
}

/** Appends calls of one family. */
const add = (st: Stage, family: Family, ...calls: Call[]) => {
  for (const call of calls) st.out.push({ call, family });
};

/** A GEMM of the plan: its calls, its split's scratch grown to fit, and its line in the GEMM table. */
function gemm(st: Stage, family: Family, name: string, args: Omit<MatmulArgs, 'precision' | 'scratch'>): void {
  const precision = st.o.precision;
  const choice = matmulChoice({ m: args.m, n: args.n, k: args.k, precision }, st.ctx);
  const scratch = st.b.s.splitK;
  scratch.size = Math.max(scratch.size, choice.scratchFloats * 4);
  add(st, family, ...matmul(st.ctx, { ...args, precision, scratch }, { label: name }));
  const key = `${name} ${args.m}×${args.n}×${args.k}`;
  if (!st.gemms.has(key)) {
    const { bm, bn, bk } = choice.tile;
    st.gemms.set(key, { name, m: args.m, n: args.n, k: args.k, tile: `${bm}x${bn}x${bk}`, splitK: choice.splitK, workgroups: choice.workgroups });
  }
}

function shapes(o: PlanOptions) {
  const { hidden: H, intermediate: I, heads, kvHeads, vocabRows: V, normEps: eps } = o.model;
  const d = H / heads;
  return { H, I, V, eps, heads, kvHeads, d, kv: kvHeads * d, N: o.rows * o.seqLen, attention: { rows: o.rows, length: o.seqLen, heads, kvHeads, headDim: d } };
}

/** The forward through the loss's statistics (the loss itself is each slot's `finish`). */
function planForward(st: Stage): void {
  const { ctx, b } = st;
  const { H, I, eps, heads, kvHeads, d, kv, N, attention } = shapes(st.o);
  const inp = b.inputs;
  const p = (name: string) => b.byName(name);
  add(st, 'norms and elementwise', embeddingForward(ctx, { tokens: N, dim: H }, { ids: inp.ids, table: p('embed').value, x: b.acts[0].x }));
  b.acts.forEach((a, l) => {
    const w = (s: string) => p(`layers.${l}.${s}`).value;
    const next = l + 1 < b.acts.length ? b.acts[l + 1].x : b.s.xLast;
    add(st, 'norms and elementwise', rmsNormForward(ctx, { rows: N, dim: H, eps }, { x: a.x, w: w('attn_norm'), y: a.a, rstd: a.rstd1 }));
    gemm(st, 'matmul forward', 'wq', { m: N, n: H, k: H, a: a.a, b: w('wq'), c: b.s.qRaw });
    gemm(st, 'matmul forward', 'wk', { m: N, n: kv, k: H, a: a.a, b: w('wk'), c: b.s.kRaw });
    gemm(st, 'matmul forward', 'wv', { m: N, n: kv, k: H, a: a.a, b: w('wv'), c: a.v });
    add(st, 'norms and elementwise', ropeForward(ctx, { tokens: N, heads, headDim: d, scale: 1 / Math.sqrt(d) }, { x: b.s.qRaw, positions: inp.positions, cos: b.cos, sin: b.sin, y: a.q }));
    add(st, 'norms and elementwise', ropeForward(ctx, { tokens: N, heads: kvHeads, headDim: d, scale: 1 }, { x: b.s.kRaw, positions: inp.positions, cos: b.cos, sin: b.sin, y: a.k }));
    add(st, 'attention forward', ...attentionForward(ctx, attention, { q: a.q, k: a.k, v: a.v, docStart: inp.docStart, o: a.o, lse: a.lse }));
    add(st, 'norms and elementwise', copy(ctx, { n: N * H }, { src: a.x, dst: a.xMid }));
    gemm(st, 'matmul forward', 'wo', { m: N, n: H, k: H, a: a.o, b: w('wo'), c: a.xMid, accumulate: true });
    add(st, 'norms and elementwise', rmsNormForward(ctx, { rows: N, dim: H, eps }, { x: a.xMid, w: w('mlp_norm'), y: a.m, rstd: a.rstd2 }));
    gemm(st, 'matmul forward', 'w_gate', { m: N, n: I, k: H, a: a.m, b: w('w_gate'), c: a.gate });
    gemm(st, 'matmul forward', 'w_up', { m: N, n: I, k: H, a: a.m, b: w('w_up'), c: a.up });
    add(st, 'norms and elementwise', swigluForward(ctx, { n: N * I }, { gate: a.gate, up: a.up, act: a.act }));
    add(st, 'norms and elementwise', copy(ctx, { n: N * H }, { src: a.xMid, dst: next }));
    gemm(st, 'matmul forward', 'w_down', { m: N, n: H, k: I, a: a.act, b: w('w_down'), c: next, accumulate: true });
  });
  add(st, 'norms and elementwise', rmsNormForward(ctx, { rows: N, dim: H, eps }, { x: b.s.xLast, w: p('final_norm').value, y: b.s.hf, rstd: b.s.rstdF }));
  // The LM head, chunked over the vocabulary: each chunk's logits fold into the running statistics.
  add(st, 'lm head and loss', ceInit(ctx, { n: N }, b.ce));
  for (const c of b.chunks) {
    headLogits(st, c);
    add(st, 'lm head and loss', ceChunkStats(ctx, { n: N, chunk: c.n, vocabStart: c.c0 }, { logits: c.logits, targets: inp.targets, ...b.ce }));
  }
}

function headLogits(st: Stage, c: Buffers['chunks'][number]): void {
  const { H, V, N } = shapes(st.o);
  gemm(st, 'lm head and loss', 'lm head', { m: N, n: c.n, k: H, a: st.b.s.hf, b: st.b.byName('lm_head').value, c: c.logits, bOffset: c.c0, ldb: V });
}

function planBackward(st: Stage): void {
  const { ctx, b } = st;
  const { H, I, V, heads, kvHeads, d, kv, N, attention } = shapes(st.o);
  const inp = b.inputs;
  const s = b.s;
  const p = (name: string) => b.byName(name);
  const head = p('lm_head');
  b.chunks.forEach((c, i) => {
    // Kept logits are still there; otherwise the head computes this chunk again.
    if (!b.keepLogits) headLogits(st, c);
    add(st, 'lm head and loss', ceChunkGrad(ctx, { n: N, chunk: c.n, vocabStart: c.c0 }, { logits: c.logits, targets: inp.targets, lse: b.ce.lse }));
    gemm(st, 'lm head and loss', 'lm head dx', { m: N, n: H, k: c.n, a: c.logits, b: head.value, c: s.dh, transB: true, bOffset: c.c0, ldb: V, accumulate: i > 0 });
    gemm(st, 'lm head and loss', 'lm head dw', { m: H, n: c.n, k: N, a: s.hf, b: c.logits, c: head.grad, transA: true, cOffset: c.c0, ldc: V, accumulate: true });
  });
  add(st, 'norms and elementwise', ...rmsNormBackward(ctx, { rows: N, dim: H }, { x: s.xLast, w: p('final_norm').value, rstd: s.rstdF, dy: s.dh, dx: s.dx, dw: p('final_norm').grad, partial: s.normPartial }, { accumulateDx: false }));
  for (let l = b.acts.length - 1; l >= 0; l--) {
    const a = b.acts[l];
    const w = (name: string) => p(`layers.${l}.${name}`);
    const mmB = (name: string, args: Omit<MatmulArgs, 'precision' | 'scratch'>) => gemm(st, 'matmul backward', name, args);
    // dx holds ∂loss/∂(the layer's output). The MLP branch:
    mmB('w_down dx', { m: N, n: I, k: H, a: s.dx, b: w('w_down').value, c: s.dAct, transB: true });
    mmB('w_down dw', { m: I, n: H, k: N, a: a.act, b: s.dx, c: w('w_down').grad, transA: true, accumulate: true });
    add(st, 'norms and elementwise', swigluBackward(ctx, { n: N * I }, { gate: a.gate, up: a.up, dact: s.dAct, dgate: s.dGate, dup: s.dUp }));
    mmB('w_gate dx', { m: N, n: H, k: I, a: s.dGate, b: w('w_gate').value, c: s.dh, transB: true });
    mmB('w_up dx', { m: N, n: H, k: I, a: s.dUp, b: w('w_up').value, c: s.dh, transB: true, accumulate: true });
    mmB('w_gate dw', { m: H, n: I, k: N, a: a.m, b: s.dGate, c: w('w_gate').grad, transA: true, accumulate: true });
    mmB('w_up dw', { m: H, n: I, k: N, a: a.m, b: s.dUp, c: w('w_up').grad, transA: true, accumulate: true });
    add(st, 'norms and elementwise', ...rmsNormBackward(ctx, { rows: N, dim: H }, { x: a.xMid, w: w('mlp_norm').value, rstd: a.rstd2, dy: s.dh, dx: s.dx, dw: w('mlp_norm').grad, partial: s.normPartial }, { accumulateDx: true }));
    // dx now holds ∂loss/∂xMid. The attention branch:
    mmB('wo dx', { m: N, n: H, k: H, a: s.dx, b: w('wo').value, c: s.dh, transB: true });
    mmB('wo dw', { m: H, n: H, k: N, a: a.o, b: s.dx, c: w('wo').grad, transA: true, accumulate: true });
    add(
      st,
      'attention backward',
      ...attentionBackward(ctx, attention, { q: a.q, k: a.k, v: a.v, docStart: inp.docStart, docEnd: inp.docEnd, o: a.o, lse: a.lse, dO: s.dh, dq: s.dq, dk: s.dk, dv: s.dv, scratch: s.attention }),
    );
    add(st, 'norms and elementwise', ropeBackward(ctx, { tokens: N, heads, headDim: d, scale: 1 / Math.sqrt(d) }, { dy: s.dq, positions: inp.positions, cos: b.cos, sin: b.sin, dx: s.dqRaw }));
    add(st, 'norms and elementwise', ropeBackward(ctx, { tokens: N, heads: kvHeads, headDim: d, scale: 1 }, { dy: s.dk, positions: inp.positions, cos: b.cos, sin: b.sin, dx: s.dkRaw }));
    mmB('wq dx', { m: N, n: H, k: H, a: s.dqRaw, b: w('wq').value, c: s.dh, transB: true });
    mmB('wk dx', { m: N, n: H, k: kv, a: s.dkRaw, b: w('wk').value, c: s.dh, transB: true, accumulate: true });
    mmB('wv dx', { m: N, n: H, k: kv, a: s.dv, b: w('wv').value, c: s.dh, transB: true, accumulate: true });
    mmB('wq dw', { m: H, n: H, k: N, a: a.a, b: s.dqRaw, c: w('wq').grad, transA: true, accumulate: true });
    mmB('wk dw', { m: H, n: kv, k: N, a: a.a, b: s.dkRaw, c: w('wk').grad, transA: true, accumulate: true });
    mmB('wv dw', { m: H, n: kv, k: N, a: a.a, b: s.dv, c: w('wv').grad, transA: true, accumulate: true });
    add(st, 'norms and elementwise', ...rmsNormBackward(ctx, { rows: N, dim: H }, { x: a.x, w: w('attn_norm').value, rstd: a.rstd1, dy: s.dh, dx: s.dx, dw: w('attn_norm').grad, partial: s.normPartial }, { accumulateDx: true }));
  }
  add(st, 'norms and elementwise', embeddingBackward(ctx, { maxSegments: N, maxTokens: N, dim: H }, { order: inp.order, segStart: inp.segStart, segId: inp.segId, segCount: inp.segCount, dx: s.dx, dtable: p('embed').grad }));
}

/** The squared norm, the clip factor and AdamW, all on the device: no host read before the update. */
function planUpdate(st: Stage): void {
  const { ctx, b } = st;
  const parts = b.params.map((p) => ({ buffer: p.grad, count: p.count }));
  add(st, 'optimizer', ...sumSquares(ctx, parts, { partial: b.normSums, out: b.stats, outIndex: st.o.micros }));
  add(st, 'optimizer', clipFactor(ctx, { stats: b.stats, sumsqIndex: st.o.micros, hyper: b.hyper, factor: b.factor }));
  for (const p of b.params) add(st, 'optimizer', adamw(ctx, { size: p.count, decay: p.decay }, { param: p.value, grad: p.grad, m: p.m, v: p.v, factor: b.factor, hyper: b.hyper }));
}

/**
 * Training FLOPs per token, the usual way: 6 per weight of every matrix product (forward, and the
 * two products of the backward), the LM head included and the embedding (a gather) not, plus the
 * attention scores and their weighted sum, 12·L·H·T̄ with T̄ = (T + 1) / 2 keys per query on average
 * for causal rows of one document (fewer when rows hold several documents: an upper bound).
 */
export function modelFlopsPerToken(cfg: ModelConfig, seqLen: number): number {
  const { layers: L, hidden: H, intermediate: I, heads, kvHeads, vocabRows } = cfg;
  const kv = (H / heads) * kvHeads;
  const linear = L * (2 * H * H + 2 * H * kv + 3 * H * I) + H * vocabRows;
  return 6 * linear + 12 * L * H * ((seqLen + 1) / 2);
}

/** The figures `bench:gpu -- --plan` prints for a plan: FLOPs of one step of one micro-batch, against the model's. */
export function planSummary(plan: StepPlan) {
  const { rows, seqLen, precision, model } = plan.options;
  const flops = (xs: Planned[]) => xs.reduce((sum, p) => sum + p.call.cost.flops, 0);
  const executedFlops = flops(plan.forward) + flops(plan.finish[0] ?? []) + flops(plan.backward) + flops(plan.update);
  return {
    rows,
    seqLen,
    precision,
    modelFlops: modelFlopsPerToken(model, seqLen) * rows * seqLen,
    executedFlops,
    peakBytes: plan.buffers.reduce((sum, b) => sum + b.size, 0),
    gemms: plan.gemms,
  };
}

/** Executed FLOPs by family for a step of `micros` micro-batches: what `bench:gpu --profile` divides by its times. */
export function familyFlops(plan: StepPlan, micros: number): Record<Family, number> {
  const out = Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<Family, number>;
  const count = (xs: Planned[], times: number) => xs.forEach((p) => (out[p.family] += p.call.cost.flops * times));
  count(plan.forward, micros);
  count(plan.backward, micros);
  plan.finish.slice(0, micros).forEach((f) => count(f, 1));
  count(plan.update, 1);
  return out;
}
