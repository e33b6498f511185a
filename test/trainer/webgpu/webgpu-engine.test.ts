/**
 * The hand-written WebGPU engine against the tfjs reference on the cpu backend: the same model from
 * the same seed, fed the same rows, gives the same losses, gradient norms and weights over three
 * optimizer steps (within 1e-4), for the tiny preset and for a non-preset shape with wider heads and
 * GQA; its state moves through a checkpoint and on, as the reference's does. On Dawn's software
 * adapter (skipped, saying why, where there is none).
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { PRESETS, type ModelConfig } from '../../../schemas/train.ts';
import { selectBackend } from '../../../trainer/backend.ts';
import { Loader, openDatasets } from '../../../trainer/data.ts';
import { tfjsEngine } from '../../../trainer/create-engine.ts';
import type { TrainEngine } from '../../../trainer/train-engine.ts';
import { LlamaModel } from '../../../trainer/model.ts';
import { createOptimizer } from '../../../trainer/optim.ts';
import { lossAndGrads } from '../../../trainer/step.ts';
import { WebGpuEngine } from '../../../trainer/webgpu/webgpu-engine.ts';
import { llama2, meap, slimpajama, tempDir } from '../../helpers/cli.ts';
import { describeGpu, relErr, softwareGpu, TOL } from './harness.ts';

const ADAM = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 };

function prepare(seqLen: number): string {
  const out = path.join(tempDir('meap-engine-'), `seq${seqLen}`);
  const r = meap(['prepare', slimpajama('chunk_0.jsonl'), '-o', out, '-t', llama2, '--seq-len', String(seqLen), '--limit', '30', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
  return out;
}

interface Run {
  losses: number[];
  norms: number[];
}

/** `afterFirst` runs between step 1 and step 2 (to read the first step's gradients). */
async function run(engine: TrainEngine, dir: string, o: { rows: number; micro: number }, steps: number, afterFirst?: () => Promise<void>): Promise<Run> {
  const loader = new Loader(await openDatasets([dir]), { seed: 0 });
  const losses: number[] = [];
  const norms: number[] = [];
  for (let s = 0; s < steps; s++) {
    const r = await engine.step(loader, { rows: o.rows, micro: o.micro, clip: 1, lr: 4e-4 });
    losses.push(r.lossSum / r.count);
    norms.push(r.norm);
    if (s === 0) await afterFirst?.();
  }
  return { losses, norms };
}

/** The reference's summed-loss gradient over the first optimizer step's micro-batches, by parameter. */
async function referenceGradients(model: LlamaModel, dir: string, o: { rows: number; micro: number }): Promise<Float32Array[]> {
  const loader = new Loader(await openDatasets([dir]), { seed: 0 });
  let sum: Float32Array[] | null = null;
  for (let done = 0; done < o.rows; done += o.micro) {
    const r = lossAndGrads(model, await loader.next(Math.min(o.micro, o.rows - done)));
    const g = r.grads.map((t) => t.dataSync() as Float32Array);
    tf.dispose([r.lossSum, ...r.grads]);
    sum = sum === null ? g.map((a) => Float64Array.from(a) as unknown as Float32Array) : sum.map((a, i) => a.map((x, j) => x + g[i][j]) as Float32Array);
  }
  return sum!;
}

describeGpu('WebGpuEngine matches the tfjs reference on cpu', () => {
  let seq128: string;
  let seq256: string;
  beforeAll(() => {
    seq128 = prepare(128);
    seq256 = prepare(256);
  });

  const cases: Array<{ name: string; shape: Omit<ModelConfig, 'vocabRows'>; dir: () => string; rows: number; micro: number }> = [
    { name: 'the tiny preset, 4 rows × 128 in micro-batches of 2', shape: PRESETS.tiny, dir: () => seq128, rows: 4, micro: 2 },
    {
      name: '2 layers, hidden 128, 4 heads, 2 KV heads, 2 rows × 256 in micro-batches of 1',
      shape: { layers: 2, hidden: 128, intermediate: 344, heads: 4, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
      dir: () => seq256,
      rows: 2,
      micro: 1,
    },
  ];

  for (const c of cases) {
    it(`${c.name}: every gradient of step 1, and the losses of three steps, within 1e-4 of cpu`, async () => {
      const ds = await openDatasets([c.dir()]);
      const cfg = { ...c.shape, vocabRows: ds.info.vocabRows };
      await selectBackend('cpu');
      const model = new LlamaModel(cfg, 0);
      const names = model.params.map((p) => p.name);
      const grads = await referenceGradients(model, c.dir(), c);
      const reference = tfjsEngine(model, createOptimizer('cpu', model.params, ADAM), 'reference');
      const cpu = await run(reference, c.dir(), c, 3);
      reference.dispose();
      const engine = await WebGpuEngine.create(softwareGpu!.device, cfg, { adam: ADAM, seed: 0, micro: c.micro, seqLen: ds.info.seqLen, batchSize: c.rows, precision: 'f32' });
      let gpuGrads: Float32Array[] = [];
      const gpu = await run(engine, c.dir(), c, 3, async () => {
        gpuGrads = await engine.gradients();
      });
      engine.dispose();
      gpuGrads.forEach((g, i) => expect(relErr(g, grads[i]), `gradient of ${names[i]}`).toBeLessThan(TOL));
      // Weights after AdamW are not compared: its first steps move each weight by ±lr by the sign of
      // its gradient, so a gradient element near zero may round to either sign on either device.
      gpu.losses.forEach((l, i) => expect(relErr([l], [cpu.losses[i]]), `loss of step ${i + 1}: ${l} vs ${cpu.losses[i]}`).toBeLessThan(TOL));
      gpu.norms.forEach((n, i) => expect(relErr([n], [cpu.norms[i]]), `gradient norm of step ${i + 1}`).toBeLessThan(TOL));
    }, 900_000); // the cpu reference and llvmpipe on one thread each: minutes
  }

  it('in mixed precision (f16 matmul inputs, f32 accumulation) stays within 1e-3 of its f32 losses over three steps', async () => {
    const ds = await openDatasets([seq128]);
    const cfg = { ...PRESETS.tiny, vocabRows: ds.info.vocabRows };
    const losses = async (precision: 'f32' | 'mixed') => {
      const e = await WebGpuEngine.create(softwareGpu!.device, cfg, { adam: ADAM, seed: 0, micro: 2, seqLen: ds.info.seqLen, batchSize: 4, precision });
      const r = await run(e, seq128, { rows: 4, micro: 2 }, 3);
      e.dispose();
      return r.losses;
    };
    const [f32, mixed] = [await losses('f32'), await losses('mixed')];
    mixed.forEach((l, i) => expect(relErr([l], [f32[i]]), `step ${i + 1}: mixed ${l}, f32 ${f32[i]}`).toBeLessThan(1e-3));
    // The rounding is real: mixed is not f32 under another name.
    expect(mixed).not.toEqual(f32);
  });

  it('carries its weights and AdamW state through a checkpoint to the same next step', async () => {
    const ds = await openDatasets([seq128]);
    const cfg = { ...PRESETS.tiny, vocabRows: ds.info.vocabRows };
    const o = { adam: ADAM, seed: 0, micro: 2, seqLen: ds.info.seqLen, batchSize: 2, precision: 'f32' as const };
    const a = await WebGpuEngine.create(softwareGpu!.device, cfg, o);
    const loader = new Loader(ds, { seed: 0 });
    const step = (e: WebGpuEngine) => e.step(loader, { rows: 2, micro: 2, clip: 1, lr: 4e-4 });
    await step(a);
    const saved = { weights: await a.weights(), state: await a.optimizerState(), cursor: loader.cursor() };
    const next = await step(a);
    a.dispose();
    const b = await WebGpuEngine.create(softwareGpu!.device, cfg, { ...o, seed: 7 });
    b.loadWeights(saved.weights);
    b.loadOptimizer(saved.state);
    loader.restore(saved.cursor);
    const again = await step(b);
    b.dispose();
    expect(again.lossSum).toBe(next.lossSum);
    expect(again.norm).toBe(next.norm);
  });

  it('gives bit-identical losses, norms and weights when each next step is submitted ahead, and says where the loader stood', async () => {
    const ds = await openDatasets([seq128]);
    const cfg = { ...PRESETS.tiny, vocabRows: ds.info.vocabRows };
    const o = { adam: ADAM, seed: 0, micro: 2, seqLen: ds.info.seqLen, batchSize: 4, precision: 'f32' as const };
    const steps = async (ahead: boolean) => {
      const e = await WebGpuEngine.create(softwareGpu!.device, cfg, o);
      const loader = new Loader(ds, { seed: 0 });
      const out: Array<{ lossSum: number; norm: number }> = [];
      const cursors: unknown[] = [];
      for (let s = 0; s < 3; s++) {
        const r = await e.step(loader, { rows: 4, micro: 2, clip: 1, lr: 4e-4, ahead: ahead && s < 2 ? { rows: 4, micro: 2 } : undefined });
        out.push({ lossSum: r.lossSum, norm: r.norm });
        // Where a checkpoint after this step would have to resume: the loader itself stands past the step taken ahead.
        cursors.push(r.cursor ?? loader.cursor());
      }
      const weights = await e.weights();
      e.dispose();
      return { out, cursors, weights };
    };
    const serial = await steps(false);
    const early = await steps(true);
    expect(early.out).toEqual(serial.out);
    expect(early.cursors).toEqual(serial.cursors);
    early.weights.forEach((w, i) => expect(w.data, w.name).toEqual(serial.weights[i].data));
  });
});
