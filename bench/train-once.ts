/**
 * One training measurement in its own process: `backend preset rows length steps shardsDir`.
 * Times full optimizer steps (forward, backward, clipping, AdamW) after one warm-up step.
 */
import { PRESETS } from '../schemas/train.ts';
import { selectBackend } from '../trainer/backend.ts';
import { Loader, openDatasets } from '../trainer/data.ts';
import { LlamaModel } from '../trainer/model.ts';
import { createOptimizer } from '../trainer/optim.ts';
import { optimizerStep } from '../trainer/step.ts';
import { BENCH_STEP } from './train-step.ts';
const [backendName, preset, rowsArg, stepsArg, shards] = process.argv.slice(2);
try {
const backend = await selectBackend(backendName as 'cpu');
const ds = await openDatasets([shards]);
const loader = new Loader(ds, { seed: 0 });
const built = performance.now();
const model = new LlamaModel({ ...PRESETS[preset as keyof typeof PRESETS], vocabRows: ds.info.vocabRows }, 0);
const buildSeconds = (performance.now() - built) / 1000;
const optim = createOptimizer(backend.name, model.params, BENCH_STEP.adam);
const step = async () => {
  const rows = Number(rowsArg);
  await optimizerStep(model, optim, loader, { rows, micro: rows, clip: BENCH_STEP.clip, lr: BENCH_STEP.lr });
  return rows * ds.info.seqLen;
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
