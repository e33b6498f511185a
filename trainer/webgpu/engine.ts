/**
 * The hand-written WebGPU engine, in the style of llm.c: the Llama-style model of trainer/model.ts
 * with explicit forward and backward kernels and no autograd. Every buffer is planned once for the
 * micro-batch shape (rows × seqLen; shorter batches are padded) and every dispatch, with its bind
 * group, is made once and replayed: a step is a few command buffers and one read of the micro-batch
 * loss sums and the squared gradient norm, after the update (clipping and the skip of a non-finite
 * step happen on the device).
 *
 * Weights, gradients and AdamW moments are named and shaped as the tfjs model's, so checkpoints move
 * between the two engines, and the initial weights are the tfjs model's from the same seed.
 *
 * Covered by test/trainer/webgpu/engine.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { configError } from '../../core/errors.ts';
import type { ModelConfig } from '../../schemas/train.ts';
import { selectBackend } from '../backend.ts';
import type { Loader } from '../data.ts';
import { ENGINE_ENV, type EngineOptions, type SavedParam, type StepOptions, type StepResult, type TrainEngine } from '../engine.ts';
import { LlamaModel } from '../model.ts';
import { ropeTables } from '../rope-tables.ts';
import type { AdamWState } from '../optim.ts';
import { kernelBatch, type KernelBatch } from './batch.ts';
import { Gpu, type Dispatch } from './gpu.ts';
import { adamw, clipFactor, hyperParams, sumSquares, sumSquaresPartialFloats } from './kernels/adamw.ts';
import { attentionBackward, attentionForward } from './kernels/attention.ts';
import { copy } from './kernels/elementwise.ts';
import { embeddingBackward, embeddingForward } from './kernels/embedding.ts';
import { ceChunkGrad, ceChunkStats, ceFinish, ceInit } from './kernels/loss.ts';
import { matmul } from './kernels/matmul.ts';
import { rmsNormBackward, rmsNormForward, rmsNormPartialFloats } from './kernels/norm.ts';
import { ropeBackward, ropeForward } from './kernels/rope.ts';
import { swigluBackward, swigluForward } from './kernels/swiglu.ts';

/** Columns of the LM head per chunk: bounds the logits scratch to rows × CHUNK floats. */
const CHUNK = 8192;

interface Param extends SavedParam {
  buffer: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
  decay: boolean;
}

interface LayerParams {
  attnNorm: Param;
  wq: Param;
  wk: Param;
  wv: Param;
  wo: Param;
  mlpNorm: Param;
  wGate: Param;
  wUp: Param;
  wDown: Param;
}

/** What one layer keeps from its forward for its backward. */
interface LayerActs {
  x: GPUBuffer; // the residual stream entering the layer
  a: GPUBuffer; // attention input, normed
  rstd1: GPUBuffer;
  q: GPUBuffer; // RoPE'd and scaled
  k: GPUBuffer; // RoPE'd
  v: GPUBuffer;
  o: GPUBuffer; // attention output, heads merged
  lse: GPUBuffer;
  xMid: GPUBuffer; // x + attention
  m: GPUBuffer; // MLP input, normed
  rstd2: GPUBuffer;
  gate: GPUBuffer;
  up: GPUBuffer;
  act: GPUBuffer;
}

export class WebGpuEngine implements TrainEngine {
  readonly detail: string;
  private readonly gpu: Gpu;
  private readonly params: Param[] = [];
  private readonly embed: Param;
  private readonly layers: LayerParams[] = [];
  private readonly finalNorm: Param;
  private readonly lmHead: Param;
  private readonly acts: LayerActs[] = [];
  private readonly inputs: Record<'ids' | 'positions' | 'docStart' | 'docEnd' | 'targets' | 'order' | 'segStart' | 'segId' | 'segCount', GPUBuffer>;
  private readonly microPlans: Dispatch[][] = [];
  private readonly optimizerPlan: Dispatch[];
  private readonly stats: GPUBuffer;
  private readonly readStats: (stats: GPUBuffer) => Promise<Float32Array>;
  private readonly hyper: GPUBuffer;
  private readonly maxMicro: number;
  private step_ = 0;

  private constructor(
    device: GPUDevice,
    cfg: ModelConfig,
    init: SavedParam[],
    private readonly o: EngineOptions,
  ) {
    this.gpu = new Gpu(device);
    const gpu = this.gpu;
    const { hidden: H, intermediate: I, heads, kvHeads, layers: L, vocabRows: V, normEps: eps } = cfg;
    const d = H / heads;
    const kv = kvHeads * d;
    const rows = o.micro;
    const T = o.seqLen;
    const N = rows * T;
    this.maxMicro = Math.ceil(o.batchSize / o.micro);
    const adam = o.adam;

    checkBindings(device, [
      ['the embedding', V * H],
      ['an MLP activation', N * I],
      ['a hidden-state activation', N * H],
    ]);
    const param = (p: SavedParam): Param => {
      const f32 = (label: string) => gpu.buffer(p.data.length * 4, `${p.name} ${label}`);
      const buffer = gpu.upload(p.data, p.name);
      return { ...p, buffer, grad: f32('grad'), m: f32('m'), v: f32('v'), decay: p.shape.length > 1 };
    };
    for (const p of init) this.params.push(param(p));
    const byName = (name: string) => this.params.find((p) => p.name === name)!;
    this.embed = byName('embed');
    for (let l = 0; l < L; l++) {
      const n = (s: string) => byName(`layers.${l}.${s}`);
      this.layers.push({ attnNorm: n('attn_norm'), wq: n('wq'), wk: n('wk'), wv: n('wv'), wo: n('wo'), mlpNorm: n('mlp_norm'), wGate: n('w_gate'), wUp: n('w_up'), wDown: n('w_down') });
    }
    this.finalNorm = byName('final_norm');
    this.lmHead = byName('lm_head');

    const f = (count: number, label: string) => gpu.buffer(count * 4, label);
    this.inputs = {
      ids: f(N, 'ids'),
      positions: f(N, 'positions'),
      docStart: f(N, 'docStart'),
      docEnd: f(N, 'docEnd'),
      targets: f(N, 'targets'),
      order: f(N, 'order'),
      segStart: f(N + 1, 'segStart'),
      segId: f(N, 'segId'),
      segCount: f(1, 'segCount'),
    };
    for (let l = 0; l < L; l++) {
      const p = (label: string) => `layer ${l} ${label}`;
      this.acts.push({
        x: f(N * H, p('x')),
        a: f(N * H, p('a')),
        rstd1: f(N, p('rstd1')),
        q: f(N * H, p('q')),
        k: f(N * kv, p('k')),
        v: f(N * kv, p('v')),
        o: f(N * H, p('o')),
        lse: f(N * heads, p('lse')),
        xMid: f(N * H, p('xMid')),
        m: f(N * H, p('m')),
        rstd2: f(N, p('rstd2')),
        gate: f(N * I, p('gate')),
        up: f(N * I, p('up')),
        act: f(N * I, p('act')),
      });
    }
    // Shared scratch: each is live within one layer's forward or backward only.
    const xLast = f(N * H, 'x final');
    const hf = f(N * H, 'final normed');
    const rstdF = f(N, 'final rstd');
    const qRaw = f(N * H, 'q raw');
    const kRaw = f(N * kv, 'k raw');
    const dx = f(N * H, 'dx');
    const dh = f(N * H, 'dh');
    const dq = f(N * H, 'dq');
    const dk = f(N * kv, 'dk');
    const dv = f(N * kv, 'dv');
    const dqRaw = f(N * H, 'dq raw');
    const dkRaw = f(N * kv, 'dk raw');
    const dI1 = f(N * I, 'dact');
    const dGate = f(N * I, 'dgate');
    const dUp = f(N * I, 'dup');
    const delta = f(N * heads, 'attention delta');
    const normPartial = f(rmsNormPartialFloats(N, H), 'norm partial');
    // The logits scratch is one binding: take fewer vocabulary columns per chunk where bindings are small.
    const chunk = Math.min(CHUNK, V, Math.max(4, Math.floor(device.limits.maxStorageBufferBindingSize / (4 * N) / 4) * 4));
    const logits = f(N * chunk, 'logits chunk');
    const ce = { max: f(N, 'ce max'), sum: f(N, 'ce sum'), picked: f(N, 'ce picked'), lse: f(N, 'ce lse') };
    // Micro-batch loss sums, then the squared gradient norm: the step's one read.
    this.stats = f(this.maxMicro + 1, 'stats');
    this.readStats = gpu.f32Reader(this.maxMicro + 1, 'stats');
    const rope = ropeTables(cfg, T);
    const cos = gpu.upload(rope.cos, 'rope cos');
    const sin = gpu.upload(rope.sin, 'rope sin');

    // ---- one micro-batch: forward, loss, backward (weight gradients accumulate) ----
    const fwd: Dispatch[] = [];
    const mm = (m: number, n: number, k: number, a: GPUBuffer, b: GPUBuffer, c: GPUBuffer, o: Partial<Parameters<typeof matmul>[1]> = {}, label = 'matmul') =>
      matmul(gpu, { m, n, k, a, b, c, precision: this.o.precision, ...o }, label);
    const inp = this.inputs;
    fwd.push(embeddingForward(gpu, { tokens: N, dim: H }, { ids: inp.ids, table: this.embed.buffer, x: this.acts[0].x }));
    for (let l = 0; l < L; l++) {
      const w = this.layers[l];
      const a = this.acts[l];
      const next = l + 1 < L ? this.acts[l + 1].x : xLast;
      fwd.push(rmsNormForward(gpu, { rows: N, dim: H, eps }, { x: a.x, w: w.attnNorm.buffer, y: a.a, rstd: a.rstd1 }));
      fwd.push(mm(N, H, H, a.a, w.wq.buffer, qRaw), mm(N, kv, H, a.a, w.wk.buffer, kRaw), mm(N, kv, H, a.a, w.wv.buffer, a.v));
      fwd.push(ropeForward(gpu, { tokens: N, heads, headDim: d, scale: 1 / Math.sqrt(d) }, { x: qRaw, positions: inp.positions, cos, sin, y: a.q }));
      fwd.push(ropeForward(gpu, { tokens: N, heads: kvHeads, headDim: d, scale: 1 }, { x: kRaw, positions: inp.positions, cos, sin, y: a.k }));
      fwd.push(...attentionForward(gpu, { rows, length: T, heads, kvHeads, headDim: d }, { q: a.q, k: a.k, v: a.v, docStart: inp.docStart, o: a.o, lse: a.lse }));
      fwd.push(copy(gpu, { n: N * H }, { src: a.x, dst: a.xMid }), mm(N, H, H, a.o, w.wo.buffer, a.xMid, { accumulate: true }));
      fwd.push(rmsNormForward(gpu, { rows: N, dim: H, eps }, { x: a.xMid, w: w.mlpNorm.buffer, y: a.m, rstd: a.rstd2 }));
      fwd.push(mm(N, I, H, a.m, w.wGate.buffer, a.gate), mm(N, I, H, a.m, w.wUp.buffer, a.up));
      fwd.push(swigluForward(gpu, { n: N * I }, { gate: a.gate, up: a.up, act: a.act }));
      fwd.push(copy(gpu, { n: N * H }, { src: a.xMid, dst: next }), mm(N, H, I, a.act, w.wDown.buffer, next, { accumulate: true }));
    }
    fwd.push(rmsNormForward(gpu, { rows: N, dim: H, eps }, { x: xLast, w: this.finalNorm.buffer, y: hf, rstd: rstdF }));

    // The LM head, chunked over the vocabulary: statistics first, then the gradient chunk by chunk.
    const chunks: Array<{ c0: number; n: number }> = [];
    for (let c0 = 0; c0 < V; c0 += chunk) chunks.push({ c0, n: Math.min(chunk, V - c0) });
    const headLogits = (c: { c0: number; n: number }) => mm(N, c.n, H, hf, this.lmHead.buffer, logits, { bOffset: c.c0, ldb: V }, 'lm head');
    const loss: Dispatch[] = [ceInit(gpu, { n: N }, ce)];
    for (const c of chunks) {
      loss.push(headLogits(c), ceChunkStats(gpu, { n: N, chunk: c.n, vocabStart: c.c0 }, { logits, targets: inp.targets, ...ce }));
    }
    const bwd: Dispatch[] = [];
    chunks.forEach((c, i) => {
      bwd.push(headLogits(c), ceChunkGrad(gpu, { n: N, chunk: c.n, vocabStart: c.c0 }, { logits, targets: inp.targets, lse: ce.lse }));
      bwd.push(mm(N, H, c.n, logits, this.lmHead.buffer, dh, { transB: true, bOffset: c.c0, ldb: V, accumulate: i > 0 }, 'lm head dx'));
      bwd.push(mm(H, c.n, N, hf, logits, this.lmHead.grad, { transA: true, cOffset: c.c0, ldc: V, accumulate: true }, 'lm head dw'));
    });
    bwd.push(...rmsNormBackward(gpu, { rows: N, dim: H }, { x: xLast, w: this.finalNorm.buffer, rstd: rstdF, dy: dh, dx, dw: this.finalNorm.grad, partial: normPartial }, { accumulateDx: false }));
    for (let l = L - 1; l >= 0; l--) {
      const w = this.layers[l];
      const a = this.acts[l];
      // dx holds ∂loss/∂(the layer's output). The MLP branch:
      bwd.push(mm(N, I, H, dx, w.wDown.buffer, dI1, { transB: true }), mm(I, H, N, a.act, dx, w.wDown.grad, { transA: true, accumulate: true }));
      bwd.push(swigluBackward(gpu, { n: N * I }, { gate: a.gate, up: a.up, dact: dI1, dgate: dGate, dup: dUp }));
      bwd.push(mm(N, H, I, dGate, w.wGate.buffer, dh, { transB: true }), mm(N, H, I, dUp, w.wUp.buffer, dh, { transB: true, accumulate: true }));
      bwd.push(mm(H, I, N, a.m, dGate, w.wGate.grad, { transA: true, accumulate: true }), mm(H, I, N, a.m, dUp, w.wUp.grad, { transA: true, accumulate: true }));
      bwd.push(...rmsNormBackward(gpu, { rows: N, dim: H }, { x: a.xMid, w: w.mlpNorm.buffer, rstd: a.rstd2, dy: dh, dx, dw: w.mlpNorm.grad, partial: normPartial }, { accumulateDx: true }));
      // dx now holds ∂loss/∂xMid. The attention branch:
      bwd.push(mm(N, H, H, dx, w.wo.buffer, dh, { transB: true }), mm(H, H, N, a.o, dx, w.wo.grad, { transA: true, accumulate: true }));
      bwd.push(...attentionBackward(gpu, { rows, length: T, heads, kvHeads, headDim: d }, { q: a.q, k: a.k, v: a.v, docStart: inp.docStart, docEnd: inp.docEnd, o: a.o, lse: a.lse, dO: dh, dq, dk, dv, delta }));
      bwd.push(ropeBackward(gpu, { tokens: N, heads, headDim: d, scale: 1 / Math.sqrt(d) }, { dy: dq, positions: inp.positions, cos, sin, dx: dqRaw }));
      bwd.push(ropeBackward(gpu, { tokens: N, heads: kvHeads, headDim: d, scale: 1 }, { dy: dk, positions: inp.positions, cos, sin, dx: dkRaw }));
      bwd.push(
        mm(N, H, H, dqRaw, w.wq.buffer, dh, { transB: true }),
        mm(N, H, kv, dkRaw, w.wk.buffer, dh, { transB: true, accumulate: true }),
        mm(N, H, kv, dv, w.wv.buffer, dh, { transB: true, accumulate: true }),
      );
      bwd.push(
        mm(H, H, N, a.a, dqRaw, w.wq.grad, { transA: true, accumulate: true }),
        mm(H, kv, N, a.a, dkRaw, w.wk.grad, { transA: true, accumulate: true }),
        mm(H, kv, N, a.a, dv, w.wv.grad, { transA: true, accumulate: true }),
      );
      bwd.push(...rmsNormBackward(gpu, { rows: N, dim: H }, { x: a.x, w: w.attnNorm.buffer, rstd: a.rstd1, dy: dh, dx, dw: w.attnNorm.grad, partial: normPartial }, { accumulateDx: true }));
    }
    bwd.push(embeddingBackward(gpu, { maxSegments: N, maxTokens: N, dim: H }, { order: inp.order, segStart: inp.segStart, segId: inp.segId, segCount: inp.segCount, dx, dtable: this.embed.grad }));

    for (let slot = 0; slot < this.maxMicro; slot++) {
      this.microPlans.push([...fwd, ...loss, ...ceFinish(gpu, { n: N, slot }, { ...ce, loss: this.stats }), ...bwd]);
    }

    // ---- the update: squared norm, clip factor, AdamW; no host read before it ----
    const partial = f(sumSquaresPartialFloats(this.params.map((p) => ({ buffer: p.grad, count: p.data.length }))), 'norm partial sums');
    const factor = f(2, 'clip factor');
    this.hyper = gpu.uniform(hyperParams({ t: 1, lr: 0, beta1: adam.beta1, beta2: adam.beta2, eps: adam.eps, weightDecay: adam.weightDecay, clip: 0, invCount: 0 }), 'adamw hyper');
    this.optimizerPlan = [
      ...sumSquares(gpu, this.params.map((p) => ({ buffer: p.grad, count: p.data.length })), { partial, out: this.stats, outIndex: this.maxMicro }),
      clipFactor(gpu, { stats: this.stats, sumsqIndex: this.maxMicro, hyper: this.hyper, factor }),
      ...this.params.map((p) => adamw(gpu, { size: p.data.length, decay: p.decay }, { param: p.buffer, grad: p.grad, m: p.m, v: p.v, factor, hyper: this.hyper })),
    ];
    this.detail = `hand-written WGSL kernels, ${o.precision}, ${rows} rows × ${T} per pass, ${(gpu.bytes().now / 2 ** 30).toFixed(2)} GiB planned`;
  }

  /**
   * The tfjs model's initial weights for this seed (same names, shapes and values), then the plan.
   * `steps` bounds the micro-batches of one optimizer step (one loss slot each).
   */
  static async create(device: GPUDevice, cfg: ModelConfig, o: EngineOptions): Promise<WebGpuEngine> {
    const d = cfg.hidden / cfg.heads;
    if (d > 128 || d % 4 !== 0) throw configError(`the WebGPU engine needs a head size that is a multiple of 4 up to 128; this model's is ${d}`, `train with ${ENGINE_ENV}=tfjs`);
    // Made on tfjs's cpu backend: the values are drawn in JavaScript whatever the backend, and tfjs's
    // WebGPU backend would keep the model's buffers in its pool for the rest of the run.
    const previous = tf.getBackend();
    await selectBackend('cpu');
    let init: SavedParam[];
    try {
      const model = new LlamaModel(cfg, o.seed);
      init = model.params.map((p) => ({ name: p.name, shape: p.variable.shape, data: Float32Array.from(p.variable.dataSync() as Float32Array) }));
      model.dispose();
    } finally {
      await tf.setBackend(previous);
    }
    return new WebGpuEngine(device, cfg, init, o);
  }

  async step(loader: Loader, o: StepOptions): Promise<StepResult> {
    const gpu = this.gpu;
    const micros = Math.ceil(o.rows / o.micro);
    if (o.micro !== this.o.micro || micros > this.maxMicro) {
      throw new RangeError(`the engine was planned for ${this.maxMicro} micro-batches of ${this.o.micro} rows, not ${micros} of ${o.micro}`);
    }
    const start = gpu.device.createCommandEncoder();
    for (const p of this.params) start.clearBuffer(p.grad);
    start.clearBuffer(this.stats);
    gpu.device.queue.submit([start.finish()]);
    let count = 0;
    for (let k = 0, done = 0; k < micros; k++, done += o.micro) {
      const batch = kernelBatch(await loader.next(Math.min(o.micro, o.rows - done)), this.o.micro, this.o.seqLen);
      count += batch.count;
      this.upload(batch);
      const encoder = gpu.device.createCommandEncoder();
      gpu.encode(encoder, this.microPlans[k]);
      gpu.device.queue.submit([encoder.finish()]);
    }
    this.step_ += 1;
    const { beta1, beta2, eps, weightDecay } = this.o.adam;
    gpu.write(this.hyper, hyperParams({ t: this.step_, lr: o.lr, beta1, beta2, eps, weightDecay, clip: o.clip, invCount: count > 0 ? 1 / count : 0 }));
    gpu.run(this.optimizerPlan);
    const stats = await this.readStats(this.stats);
    let lossSum = 0;
    for (let k = 0; k < micros; k++) lossSum += stats[k];
    const norm = Math.sqrt(stats[this.maxMicro]) * (count > 0 ? 1 / count : 0);
    // A skipped (non-finite) update must not count as a step of AdamW's bias correction.
    if (!Number.isFinite(norm)) this.step_ -= 1;
    return { lossSum, count, norm };
  }

  async weights(): Promise<SavedParam[]> {
    return Promise.all(this.params.map(async (p) => ({ name: p.name, shape: p.shape, data: await this.gpu.readF32(p.buffer, p.data.length) })));
  }

  loadWeights(saved: readonly SavedParam[]): void {
    const byName = new Map(saved.map((p) => [p.name, p]));
    for (const p of this.params) {
      const s = byName.get(p.name);
      if (s === undefined || s.shape.join('x') !== p.shape.join('x')) throw configError(`the checkpoint has no parameter ${p.name} of shape [${p.shape}]`);
      this.gpu.write(p.buffer, s.data);
    }
  }

  /** The summed-loss gradients of the last step, by parameter: for tests and debugging. */
  async gradients(): Promise<Float32Array[]> {
    return Promise.all(this.params.map((p) => this.gpu.readF32(p.grad, p.data.length)));
  }

  async optimizerState(): Promise<AdamWState> {
    const read = (which: 'm' | 'v') => Promise.all(this.params.map((p) => this.gpu.readF32(p[which], p.data.length)));
    const [m, v] = await Promise.all([read('m'), read('v')]);
    return { step: this.step_, m, v };
  }

  loadOptimizer(s: AdamWState): void {
    if (!Number.isInteger(s.step) || s.step < 0 || s.m.length !== this.params.length || s.v.length !== this.params.length) {
      throw configError(`the checkpoint's optimizer state is for ${s.m.length} parameters, this model has ${this.params.length}`);
    }
    this.params.forEach((p, i) => {
      if (s.m[i].length !== p.data.length || s.v[i].length !== p.data.length) throw configError(`the checkpoint's AdamW moments of ${p.name} do not match its shape [${p.shape}]`);
      this.gpu.write(p.m, s.m[i]);
      this.gpu.write(p.v, s.v[i]);
    });
    this.step_ = s.step;
  }

  gpuBytes(): number {
    return this.gpu.bytes().now;
  }

  dispose(): void {
    this.gpu.destroyAll();
  }

  private upload(b: KernelBatch): void {
    const w = (buf: GPUBuffer, data: Int32Array) => this.gpu.write(buf, data);
    const inp = this.inputs;
    w(inp.ids, b.ids);
    w(inp.positions, b.positions);
    w(inp.docStart, b.docStart);
    w(inp.docEnd, b.docEnd);
    w(inp.targets, b.targets);
    w(inp.order, b.order);
    w(inp.segStart, b.segStart);
    w(inp.segId, b.segId);
    w(inp.segCount, Int32Array.of(b.segments));
  }
}

/** Every buffer a kernel binds must fit one storage binding of this device. */
function checkBindings(device: GPUDevice, sizes: Array<[string, number]>): void {
  const max = device.limits.maxStorageBufferBindingSize;
  for (const [what, floats] of sizes) {
    if (floats * 4 > max) {
      throw configError(
        `the WebGPU engine needs ${what} of ${(floats * 4 / 2 ** 20).toFixed(0)} MiB in one binding, more than this GPU's ${(max / 2 ** 20).toFixed(0)} MiB`,
        'use a smaller --micro-batch',
      );
    }
  }
}
