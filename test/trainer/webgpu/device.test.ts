/**
 * The WebGPU backend against the cpu backend, on Dawn's software adapter (OpenGL ES on Mesa llvmpipe,
 * MEAP_WEBGPU_ADAPTER=software): the same tiny model from the same seed, on a batch of real shard rows,
 * must give the same forward loss, every gradient, and three AdamW steps within 1e-4 relative; the
 * tensor count must stay flat from step 2 on; and a GPU error must end the step with one line.
 * Where no adapter exists at all (no Mesa EGL/GLES libraries), the tests are skipped and say why.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { PRESETS } from '../../../schemas/train.ts';
import { selectBackend } from '../../../trainer/backend.ts';
import { Loader, openDatasets, type Batch } from '../../../trainer/data.ts';
import { lossAndGrads, optimizerStep } from '../../../trainer/step.ts';
import { LlamaModel } from '../../../trainer/model.ts';
import { createOptimizer } from '../../../trainer/optim.ts';
import { SOFTWARE_ENV, startWebgpu, type GpuWatch } from '../../../trainer/webgpu/device.ts';
import { llama2, meap, slimpajama, tempDir } from '../../helpers/cli.ts';

process.env[SOFTWARE_ENV] = 'software';
// llvmpipe would take every core for itself; CI's two are shared with the other test files.
process.env.LP_NUM_THREADS ??= '1';
let watch: GpuWatch | null = null;
let why = '';
try {
  ({ watch } = await startWebgpu(false));
} catch (e) {
  why = (e as Error).message;
}
if (watch === null) console.warn(`WebGPU tests skipped: ${why}`);
const describeGpu = watch === null ? describe.skip : describe;

/** max |a − b| over max |b|: the error relative to the tensor's scale (elementwise would blow up near 0). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

const TOL = 1e-4;
const ROWS = 4;
const SEQ = 128;

describeGpu('webgpu matches cpu on the software adapter', () => {
  let shards: string;
  let first: Batch;
  beforeAll(async () => {
    shards = path.join(tempDir('meap-webgpu-'), 'shards');
    const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '-o', shards, '-t', llama2, '--seq-len', String(SEQ), '--limit', '40', '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    first = await new Loader(await openDatasets([shards]), { seed: 0 }).next(ROWS);
  });

  /** Runs `fn` on a fresh tiny model on `backend`, from seed 0, and disposes the model. */
  async function on<T>(backend: 'cpu' | 'webgpu', fn: (model: LlamaModel) => Promise<T>): Promise<T> {
    // selectBackend for cpu keeps tfjs's "install tfjs-node" banner out of the log.
    if (backend === 'cpu') await selectBackend('cpu');
    else expect(await tf.setBackend('webgpu')).toBe(true);
    const ds = await openDatasets([shards]);
    const model = new LlamaModel({ ...PRESETS.tiny, vocabRows: ds.info.vocabRows }, 0);
    try {
      return await fn(model);
    } finally {
      model.dispose();
    }
  }

  it('gives the same forward loss and every gradient', async () => {
    const run = (backend: 'cpu' | 'webgpu') =>
      on(backend, async (model) => {
        const r = lossAndGrads(model, first);
        const lossSum = ((await r.lossSum.data()) as Float32Array)[0];
        const grads = await Promise.all(r.grads.map(async (g) => (await g.data()) as Float32Array));
        tf.dispose([r.lossSum, ...r.grads]);
        return { lossSum, count: r.count, grads, names: model.params.map((p) => p.name) };
      });
    const cpu = await run('cpu');
    const gpu = await watch!.guard(() => run('webgpu'));
    expect(gpu.count).toBe(cpu.count);
    expect(relErr([gpu.lossSum], [cpu.lossSum])).toBeLessThan(TOL);
    expect(gpu.grads).toHaveLength(cpu.grads.length);
    cpu.grads.forEach((g, i) => expect(relErr(gpu.grads[i], g), cpu.names[i]).toBeLessThan(TOL));
  });

  it('takes three AdamW steps to the same losses and weights, with a flat tensor count from step 2 on', async () => {
    const run = (backend: 'cpu' | 'webgpu') =>
      on(backend, async (model) => {
        const optim = createOptimizer(backend, model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 });
        const loader = new Loader(await openDatasets([shards]), { seed: 0 });
        const losses: number[] = [];
        const tensors: number[] = [];
        let weights: Float32Array[] = [];
        // Two rows in two micro-batches: accumulation is part of the step being compared.
        for (let step = 0; step < 4; step++) {
          const r = await optimizerStep(model, optim, loader, { rows: 2, micro: 1, clip: 1, lr: 4e-4 });
          losses.push(r.lossSum / r.count);
          tensors.push(tf.memory().numTensors);
          if (step === 2) weights = await Promise.all(model.params.map(async (p) => Float32Array.from((await p.variable.data()) as Float32Array)));
        }
        optim.dispose();
        return { losses, tensors, weights };
      });
    const cpu = await run('cpu');
    const gpu = await watch!.guard(() => run('webgpu'));
    for (let s = 0; s < 3; s++) expect(relErr([gpu.losses[s]], [cpu.losses[s]]), `step ${s + 1}`).toBeLessThan(TOL);
    cpu.weights.forEach((w, i) => expect(relErr(gpu.weights[i], w), `weights ${i} after step 3`).toBeLessThan(TOL));
    expect(new Set(gpu.tensors.slice(1)).size).toBe(1);
    expect(new Set(cpu.tensors.slice(1)).size).toBe(1);
  });

  it('ends a step that hits a GPU error with one line, never with the numbers that followed', async () => {
    await tf.setBackend('webgpu');
    // A buffer larger than one storage binding may hold is a validation error on any adapter.
    const n = (tf.backend() as unknown as { device: GPUDevice }).device.limits.maxStorageBufferBindingSize / 4 + 1024;
    const e = await watch!
      .guard(async () => {
        const big = tf.fill([n], 1, 'float32');
        const sum = tf.sum(big);
        const v = await sum.data();
        tf.dispose([big, sum]);
        return v;
      })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(MeapError);
    expect((e as MeapError).message).toMatch(/^the GPU reported a validation error: .*; the run stopped/);
    expect((e as MeapError).message).not.toContain('\n');
    expect((e as MeapError).exitCode).toBe(2);
  });
});
