/**
 * What the training loop drives: an engine holds a model's weights and its optimizer state, takes
 * optimizer steps, and moves its state in and out of checkpoints. Two kinds: the tfjs reference
 * (trainer/model.ts with autograd, on any tfjs backend) and the hand-written WebGPU engine
 * (trainer/webgpu/webgpu-engine.ts), which must give the reference's numbers.
 *
 * Interfaces only; the engines are made in create-engine.ts and exercised through test/trainer/webgpu/webgpu-engine.test.ts and test/e2e/train.test.ts.
 */
import type { Precision } from '../schemas/enums.ts';
import type { Cursor, Loader } from './data.ts';
import type { AdamWOptions, AdamWState } from './optim.ts';

export const ENGINE_ENV = 'MEAP_WEBGPU_ENGINE';

export interface EngineOptions {
  adam: AdamWOptions;
  seed: number;
  /** Rows per forward/backward pass, rows per optimizer step, and the longest row. */
  micro: number;
  batchSize: number;
  seqLen: number;
  precision: Precision;
  /** Time each kernel family on the device (the WebGPU engine, where the adapter offers timestamp-query). */
  profile?: boolean;
}

export interface StepOptions {
  /** Rows per optimizer step, and per forward/backward pass. */
  rows: number;
  micro: number;
  clip: number;
  lr: number;
  /**
   * The next step's rows and micro-batch size, where the caller will not checkpoint after this step:
   * an engine may then take the next step's batches from the loader and start on them before this
   * step's result is read.
   */
  ahead?: { rows: number; micro: number };
}

export interface StepResult {
  /** The summed cross-entropy of the step's scored targets, their count, and the gradient's global norm (of the mean loss). */
  lossSum: number;
  count: number;
  norm: number;
  /** Where the loader stood after this step's own batches, when batches of the next step were taken ahead. */
  cursor?: Cursor;
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
  /** Milliseconds of device time by kernel family in the last step, where made with `profile`. */
  profile?(): Record<string, number> | null;
  /** GPU bytes this engine holds, where it has a GPU. */
  gpuBytes?(): number;
  dispose(): void;
}
