/**
 * Which engine a run gets: the hand-written one on WebGPU (unless MEAP_WEBGPU_ENGINE=tfjs asks for
 * tfjs's own kernels there), else the tfjs reference on the selected backend.
 *
 * Covered by test/e2e/train.test.ts and test/e2e/train-webgpu.test.ts (both kinds), and
 * test/trainer/webgpu/webgpu-engine.test.ts (tfjsEngine as the reference).
 */
import { configError } from '../core/errors.ts';
import type { BackendChoice, Precision } from '../schemas/enums.ts';
import type { ModelConfig } from '../schemas/train.ts';
import type { Backend } from './backend.ts';
import { ENGINE_ENV, type EngineOptions, type TrainEngine } from './train-engine.ts';
import { LlamaModel } from './model.ts';
import { createOptimizer, type Optimizer } from './optim.ts';
import { optimizerStep } from './step.ts';

/**
 * Refuses, before any backend loads, a precision that only the WebGPU engine has where the run cannot
 * get that engine: `auto` might pick another backend, so mixed precision needs --backend webgpu.
 */
export function checkPrecision(backend: BackendChoice, precision: Precision): void {
  if (precision === 'f32') return;
  if (backend !== 'webgpu') throw configError(`--precision ${precision} needs the WebGPU engine (--backend webgpu)`, 'drop --precision, or train with --backend webgpu');
  if (process.env[ENGINE_ENV] === 'tfjs') throw configError(`--precision ${precision} needs the WebGPU engine, which ${ENGINE_ENV}=tfjs turns off`, `drop --precision, or unset ${ENGINE_ENV}`);
}

/**
 * The engine for `backend`. `meap train` checks the precision earlier (checkPrecision); the refusal
 * here keeps any other caller (bench/gpu.ts) from training f32 under a mixed-precision label.
 */
export async function createEngine(backend: Backend, cfg: ModelConfig, o: EngineOptions): Promise<TrainEngine> {
  if (backend.device !== undefined && process.env[ENGINE_ENV] !== 'tfjs') {
    const { WebGpuEngine } = await import('./webgpu/webgpu-engine.ts');
    return WebGpuEngine.create(backend.device, cfg, o);
  }
  if (o.precision !== 'f32') {
    throw configError(`--precision ${o.precision} needs the WebGPU engine (--backend webgpu)`, 'drop --precision, or train with --backend webgpu');
  }
  const model = new LlamaModel(cfg, o.seed);
  return tfjsEngine(model, createOptimizer(backend.name, model.params, o.adam), 'tfjs kernels');
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
