/**
 * One training measurement in its own process: `backend preset rows length steps shardsDir`.
 * Times full optimizer steps (forward, backward, clipping, AdamW) after one warm-up step.
 */
import * as tf from '@tensorflow/tfjs';
import { PRESETS } from '../schemas/train.ts';
import { selectBackend } from '../trainer/backend.ts';
import { Loader, openDatasets } from '../trainer/data.ts';
import { LlamaModel, lossAndGrads } from '../trainer/model.ts';
import { AdamW, clipByGlobalNorm } from '../trainer/optim.ts';

const [backendName, preset, rowsArg, stepsArg, shards] = process.argv.slice(2);
try {
const backend = await selectBackend(backendName as 'cpu');
const ds = await openDatasets([shards]);
const loader = new Loader(ds, { seed: 0 });
const built = performance.now();
const model = new LlamaModel({ ...PRESETS[preset as keyof typeof PRESETS], vocabRows: ds.info.vocabRows }, 0);
const buildSeconds = (performance.now() - built) / 1000;
const optim = new AdamW(model.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 });
const step = async () => {
  const batch = await loader.next(Number(rowsArg));
  const r = lossAndGrads(model, batch);
  const mean = r.grads.map((g) => tf.tidy(() => g.mul(1 / r.count)));
  const { grads } = clipByGlobalNorm(mean, 1);
  optim.apply(grads, 4e-4);
  [...r.grads, ...mean, ...grads].forEach((g) => g.dispose());
  return batch.rows * batch.length;
};
await step();
let tokens = 0;
const t0 = performance.now();
for (let i = 0; i < Number(stepsArg); i++) tokens += await step();
const seconds = (performance.now() - t0) / 1000;
const params = model.params.reduce((s, p) => s + p.variable.size, 0);
console.log(JSON.stringify({ backend: backend.name, preset, params, rows: Number(rowsArg), length: ds.info.seqLen, steps: Number(stepsArg), secondsPerStep: +(seconds / Number(stepsArg)).toFixed(3), tokensPerSec: Math.round(tokens / seconds), buildSeconds: +buildSeconds.toFixed(1) }));
} catch (e) {
  // One line the parent can report: uncaught wasm errors would print the whole minified module.
  console.log(JSON.stringify({ backend: backendName, preset, skipped: String((e as Error)?.message ?? e).split('\n')[0] }));
}
