/**
 * The hand-written WebGPU engine, in the style of llm.c: the Llama-style model of trainer/model.ts
 * with explicit forward and backward kernels and no autograd. The step is planned once, as data
 * (plan.ts), for the micro-batch shape (rows × seqLen; shorter batches are padded): every buffer and
 * every call. The engine binds that plan to the device and replays it; a step is a few command
 * buffers and one read of the micro-batch loss sums and the squared gradient norm, after the update
 * (clipping and the skip of a non-finite step happen on the device).
 *
 * Weights, gradients and AdamW moments are named and shaped as the tfjs model's, so checkpoints move
 * between the two engines, and the initial weights are the tfjs model's from the same seed.
 *
 * Covered by test/trainer/webgpu/webgpu-engine.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { configError } from '../../core/errors.ts';
import type { ModelConfig } from '../../schemas/train.ts';
import { selectBackend } from '../backend.ts';
import type { Cursor, Loader } from '../data.ts';
import { ENGINE_ENV, type EngineOptions, type SavedParam, type StepOptions, type StepResult, type TrainEngine } from '../train-engine.ts';
import { LlamaModel } from '../model.ts';
import type { AdamWState } from '../optim.ts';
import { kernelBatch, type KernelBatch } from './batch.ts';
import { Gpu } from './runtime.ts';
import type { Buf } from './kernel.ts';
import { hyperParams } from './kernels/adamw.ts';
import { type InputName, type PlanBuffer, type Planned, planStep, type StepPlan } from './plan.ts';
import { type FamilyDispatch, familyRuns, Profiler } from './profiler.ts';

interface Param {
  name: string;
  shape: number[];
  count: number;
  value: GPUBuffer;
  grad: GPUBuffer;
  m: GPUBuffer;
  v: GPUBuffer;
}

/** A step whose micro-batches were submitted ahead, before the previous step's statistics were read. */
interface Ahead {
  rows: number;
  micro: number;
  count: number;
}

export class WebGpuEngine implements TrainEngine {
  readonly detail: string;
  readonly plan: StepPlan;
  private readonly gpu: Gpu;
  private readonly params: Param[];
  private readonly inputs: Record<InputName, GPUBuffer>;
  private readonly stats: GPUBuffer;
  private readonly hyper: GPUBuffer;
  /** One micro-batch per loss slot: forward, that slot's loss, backward. */
  private readonly micro: FamilyDispatch[][];
  private readonly update: FamilyDispatch[];
  private readonly profiler: Profiler | null;
  private lastProfile: Record<string, number> | null = null;
  private readonly readStats: (stats: GPUBuffer) => Promise<Float32Array>;
  private ahead: Ahead | null = null;
  private step_ = 0;

  private constructor(
    device: GPUDevice,
    cfg: ModelConfig,
    init: SavedParam[],
    private readonly o: EngineOptions,
  ) {
    this.gpu = new Gpu(device);
    const gpu = this.gpu;
    const micros = Math.ceil(o.batchSize / o.micro);
    try {
      this.plan = planStep({ model: cfg, rows: o.micro, seqLen: o.seqLen, precision: o.precision, micros, limits: device.limits });
    } catch (e) {
      if (e instanceof RangeError) throw configError(`the WebGPU engine cannot plan this step: ${e.message}`, 'use a smaller --micro-batch');
      throw e;
    }
    const plan = this.plan;
    const real = new Map<Buf, GPUBuffer>();
    for (const b of plan.buffers) {
      const g = b.kind === 'uniform' ? gpu.uniform(new ArrayBuffer(b.size), b.label) : b.data ? gpu.upload(b.data, b.label) : gpu.buffer(b.size, b.label);
      real.set(b, g);
    }
    const at = (b: PlanBuffer) => real.get(b)!;
    const byName = new Map(init.map((p) => [p.name, p]));
    this.params = plan.params.map((p) => {
      const data = byName.get(p.name)?.data;
      if (data === undefined || data.length !== p.count) throw new Error(`the tfjs model has no parameter ${p.name} of ${p.count} values`);
      gpu.write(at(p.value), data);
      return { name: p.name, shape: p.shape, count: p.count, value: at(p.value), grad: at(p.grad), m: at(p.m), v: at(p.v) };
    });
    this.inputs = Object.fromEntries(Object.entries(plan.inputs).map(([k, b]) => [k, at(b)])) as Record<InputName, GPUBuffer>;
    this.stats = at(plan.stats);
    this.hyper = at(plan.hyper);
    const bind = (xs: Planned[]) => xs.map((x): FamilyDispatch => ({ ...gpu.bind(x.call, (b) => real.get(b)!), family: x.family }));
    const forward = bind(plan.forward);
    const backward = bind(plan.backward);
    this.micro = plan.finish.map((f) => [...forward, ...bind(f), ...backward]);
    this.update = bind(plan.update);
    this.readStats = gpu.f32Reader(micros + 1, 'stats');
    this.profiler = o.profile ? new Profiler(gpu, familyRunCount(this.micro[0]) * micros + familyRunCount(this.update)) : null;
    const logits = plan.keepLogits ? 'logits kept' : 'logits computed twice';
    this.detail = `hand-written WGSL kernels, ${o.precision}, ${o.micro} rows × ${o.seqLen} per pass, ${logits}, ${(gpu.bytes().now / 2 ** 30).toFixed(2)} GiB planned`;
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

  /**
   * One optimizer step. With `o.ahead` (the next step's rows and micro-batch size), the next step's
   * micro-batches are taken from the loader and submitted before this step's statistics are awaited,
   * so the device never waits for the host between steps; the queue runs them after this update.
   * The loader's cursor then stands past them; the result's `cursor` is where it stood after this
   * step's own batches.
   */
  async step(loader: Loader, o: StepOptions): Promise<StepResult> {
    const micros = Math.ceil(o.rows / o.micro);
    if (o.micro !== this.o.micro || micros > this.micro.length) {
      throw new RangeError(`the engine was planned for ${this.micro.length} micro-batches of ${this.o.micro} rows, not ${micros} of ${o.micro}`);
    }
    let count: number;
    if (this.ahead !== null) {
      if (this.ahead.rows !== o.rows || this.ahead.micro !== o.micro) throw new RangeError(`the step submitted ahead had ${this.ahead.rows} rows, not ${o.rows}`);
      count = this.ahead.count;
      this.ahead = null;
    } else {
      count = await this.submitMicros(loader, o.rows, o.micro);
    }
    this.step_ += 1;
    const { beta1, beta2, eps, weightDecay } = this.o.adam;
    this.gpu.write(this.hyper, hyperParams({ t: this.step_, lr: o.lr, beta1, beta2, eps, weightDecay, clip: o.clip, invCount: count > 0 ? 1 / count : 0 }));
    this.run(this.update);
    // The copy of the statistics is submitted now, synchronously, before any micro-batch of the next step clears them.
    const read = this.readStats(this.stats);
    let cursor: Cursor | undefined;
    if (o.ahead !== undefined) {
      cursor = loader.cursor();
      this.ahead = { ...o.ahead, count: await this.submitMicros(loader, o.ahead.rows, o.ahead.micro) };
    }
    const stats = await read;
    if (this.profiler !== null) this.lastProfile = await this.profiler.read();
    let lossSum = 0;
    for (let k = 0; k < micros; k++) lossSum += stats[k];
    const norm = Math.sqrt(stats[this.micro.length]) * (count > 0 ? 1 / count : 0);
    // A skipped (non-finite) update must not count as a step of AdamW's bias correction.
    if (!Number.isFinite(norm)) this.step_ -= 1;
    return { lossSum, count, norm, ...(cursor && { cursor }) };
  }

  /** Milliseconds of GPU time by kernel family in the last step, where the engine was made with `profile`. */
  profile(): Record<string, number> | null {
    return this.lastProfile;
  }

  private run(dispatches: readonly FamilyDispatch[]): void {
    if (this.profiler !== null) this.profiler.run(dispatches);
    else this.gpu.run(dispatches);
  }

  /** Clears the gradients and the statistics, then submits a step's micro-batches; returns their scored targets. */
  private async submitMicros(loader: Loader, rows: number, micro: number): Promise<number> {
    const gpu = this.gpu;
    const start = gpu.device.createCommandEncoder();
    for (const p of this.params) start.clearBuffer(p.grad);
    start.clearBuffer(this.stats);
    gpu.device.queue.submit([start.finish()]);
    let count = 0;
    for (let k = 0, done = 0; done < rows; k++, done += micro) {
      const batch = kernelBatch(await loader.next(Math.min(micro, rows - done), { rows: this.o.micro, length: this.o.seqLen }));
      count += batch.count;
      this.upload(batch);
      this.run(this.micro[k]);
    }
    return count;
  }

  async weights(): Promise<SavedParam[]> {
    return Promise.all(this.params.map(async (p) => ({ name: p.name, shape: p.shape, data: await this.gpu.readF32(p.value, p.count) })));
  }

  loadWeights(saved: readonly SavedParam[]): void {
    const byName = new Map(saved.map((p) => [p.name, p]));
    for (const p of this.params) {
      const s = byName.get(p.name);
      if (s === undefined || s.shape.join('x') !== p.shape.join('x')) throw configError(`the checkpoint has no parameter ${p.name} of shape [${p.shape}]`);
      this.gpu.write(p.value, s.data);
    }
  }

  /** The summed-loss gradients of the last step, by parameter: for tests and debugging. */
  async gradients(): Promise<Float32Array[]> {
    return Promise.all(this.params.map((p) => this.gpu.readF32(p.grad, p.count)));
  }

  async optimizerState(): Promise<AdamWState> {
    const read = (which: 'm' | 'v') => Promise.all(this.params.map((p) => this.gpu.readF32(p[which], p.count)));
    const [m, v] = await Promise.all([read('m'), read('v')]);
    return { step: this.step_, m, v };
  }

  loadOptimizer(s: AdamWState): void {
    if (!Number.isInteger(s.step) || s.step < 0 || s.m.length !== this.params.length || s.v.length !== this.params.length) {
      throw configError(`the checkpoint's optimizer state is for ${s.m.length} parameters, this model has ${this.params.length}`);
    }
    this.params.forEach((p, i) => {
      if (s.m[i].length !== p.count || s.v[i].length !== p.count) throw configError(`the checkpoint's AdamW moments of ${p.name} do not match its shape [${p.shape}]`);
      this.gpu.write(p.m, s.m[i]);
      this.gpu.write(p.v, s.v[i]);
    });
    this.step_ = s.step;
  }

  gpuBytes(): number {
    return this.gpu.bytes().now;
  }

  dispose(): void {
    this.profiler?.destroy();
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

const familyRunCount = (dispatches: readonly FamilyDispatch[]) => familyRuns(dispatches).length;
