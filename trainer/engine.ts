/**
 * What the training loop drives: an engine holds a model's weights and its optimizer state, takes
 * optimizer steps, and moves its state in and out of checkpoints. Two kinds: the tfjs reference
 * (trainer/model.ts with autograd, on any tfjs backend) and the hand-written WebGPU engine
 * (trainer/webgpu/engine.ts), which must give the reference's numbers.
 *
 * Covered by test/trainer/loop.test.ts and test/e2e/train.test.ts (tfjs), test/trainer/webgpu/engine.test.ts.
 */
import type { Loader } from './data.ts';
import { optimizerStep } from './step.ts';
import type { LlamaModel } from './model.ts';
import type { AdamWState, Optimizer } from './optim.ts';

export interface StepOptions {
  /** Rows per optimizer step, and per forward/backward pass. */
  rows: number;
  micro: number;
  clip: number;
  lr: number;
}

export interface StepResult {
  /** The summed cross-entropy of the step's scored targets, their count, and the gradient's global norm (of the mean loss). */
  lossSum: number;
  count: number;
  norm: number;
}

export interface SavedParam {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface TrainEngine {
  /** A line for the log: which engine, with what. */
  readonly detail: string;
  step(loader: Loader, o: StepOptions): Promise<StepResult>;
  /** The weights, read without blocking the device. */
  weights(): Promise<SavedParam[]>;
  /** Weights saved by either engine; a checkpoint of another shape is refused. */
  loadWeights(saved: readonly SavedParam[]): void;
  optimizerState(): Promise<AdamWState>;
  loadOptimizer(s: AdamWState): void;
  /** GPU bytes this engine holds, where it has a GPU. */
  gpuBytes?(): number;
  dispose(): void;
}

/** The reference: the tfjs model and optimizer, on whatever tfjs backend is active. */
export function tfjsEngine(model: LlamaModel, optim: Optimizer, detail: string): TrainEngine {
  return {
    detail,
    step: (loader, o) => optimizerStep(model, optim, loader, o),
    weights: () => Promise.all(model.params.map(async (p) => ({ name: p.name, shape: p.variable.shape, data: (await p.variable.data()) as Float32Array }))),
    loadWeights: (saved) => model.loadWeights(saved),
    optimizerState: () => optim.state(),
    loadOptimizer: (s) => optim.load(s),
    dispose() {
      model.dispose();
      optim.dispose();
    },
  };
}
