/**
 * `npm run bench:gpu`: WebGPU training on this machine's GPU with the hand-written engine, one JSON
 * line per preset (tiny, 100m, 1b at 8 rows × 1024) and precision (f32, mixed): seconds per step,
 * tokens/s and TFLOP/s after the first step (which compiles the pipelines), peak GPU bytes, and the
 * losses of steps 1–3 next to the cpu reference's on the same batches. The reference runs the same model from the same seed on the wasm backend, on a shape it can
 * hold (tiny at 8 × 1024, 100m at 2 × 128; 1b's 4.4 GB of weights fit no wasm heap); `--reference FILE`
 * takes losses computed earlier with `--write-reference FILE`.
 *
 *   tsx bench/gpu.ts [--data DIR1024] [--small DIR128] [--presets tiny,100m,1b] [--steps 6]
 *                    [--reference FILE | --write-reference FILE] [--torch torch_reference.py]
 *   tsx bench/gpu.ts --plan [--presets tiny,100m,1b] [--rows 8] [--seq-len 1024]
 *
 * --profile (where the adapter offers timestamp-query) adds `"profile": {family: {"ms", "tflops"}}`:
 * device milliseconds per step and achieved TFLOP/s of each kernel family (plan.ts's FAMILIES).
 *
 * --plan needs no GPU: it prints the engine's plan of one step (trainer/webgpu/plan.ts) per preset and
 * precision, `{"preset", "rows", "seqLen", "precision", "modelFlops", "executedFlops", "peakBytes",
 * "gemms": [{"name", "m", "n", "k", "tile", "splitK", "workgroups"}]}`, for the Llama-2 vocabulary
 * with [MASK] (32064 rows), on a device with PLAN_LIMITS.
 *
 * --torch runs ../shared/device/torch_reference.py (PyTorch, fp32 and bf16) on the same shards and GPU
 * after each preset, for a side-by-side figure.
 *
 * Each preset runs in a process of its own, so one preset's pooled GPU buffers never crowd the next.
 * On a GPU host without Node.js: ../shared/device/make-kit bench/gpu.ts DIR1024 DIR128, then
 * `bash .device/run.sh --data .device/data/DIR1024 ...` there.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddingRows, PRESETS } from '../schemas/train.ts';
import { PRECISIONS, type Precision } from '../schemas/enums.ts';
import { selectBackend, type Backend } from '../trainer/backend.ts';
import { createEngine } from '../trainer/create-engine.ts';
import { Loader, openDatasets } from '../trainer/data.ts';
import { startWebgpu } from '../trainer/webgpu/device.ts';
import { DEFAULT_LIMITS } from '../trainer/webgpu/kernel.ts';
import { FAMILIES, familyFlops, modelFlopsPerToken, planStep, planSummary, type StepPlan } from '../trainer/webgpu/plan.ts';
import { FIXTURES as fixtures } from './fixtures.ts';

type Preset = keyof typeof PRESETS;
const ROWS = 8;
/** Rows per forward/backward pass: the engine plans every activation of 8 × 1024 at once (1b: 44.7 GB in all, by its plan). */
const MICRO: Record<string, number> = { tiny: 8, '100m': 8, '300m': 8, '500m': 8, '1b': 8 };
/** The cpu reference's shape per preset: (rows, which shard directory). */
const CHECK: Record<string, { rows: number; dir: 'data' | 'small' }> = { tiny: { rows: 8, dir: 'data' }, '100m': { rows: 2, dir: 'small' } };
const ADAM = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05 };
const LR = 4e-4;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** `steps` optimizer steps from seed 0 on the first rows of the shards; losses and timings per step. */
async function run(backend: Backend, preset: Preset, dir: string, rows: number, micro: number, steps: number, precision: Precision, profile = false) {
  const ds = await openDatasets([dir]);
  const loader = new Loader(ds, { seed: 0 });
  const engine = await createEngine(backend, { ...PRESETS[preset], vocabRows: ds.info.vocabRows }, { adam: ADAM, seed: 0, micro, batchSize: rows, seqLen: ds.info.seqLen, precision, profile });
  // Milliseconds by kernel family, summed over the steps after the first.
  const times: Record<string, number> = {};
  const guard = backend.gpu?.guard ?? (<T>(fn: () => Promise<T>) => fn());
  const losses: number[] = [];
  const seconds: number[] = [];
  let tokens = 0;
  let peak = 0;
  try {
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      const r = await guard(() => engine.step(loader, { rows, micro, clip: 1, lr: LR }));
      seconds.push((performance.now() - t0) / 1000);
      losses.push(r.lossSum / r.count);
      if (s > 0) {
        tokens += rows * ds.info.seqLen;
        for (const [family, ms] of Object.entries(engine.profile?.() ?? {})) times[family] = (times[family] ?? 0) + ms;
      }
      peak = Math.max(peak, engine.gpuBytes?.() ?? backend.gpuBytes?.() ?? 0);
    }
  } finally {
    engine.dispose();
  }
  const later = seconds.slice(1).reduce((a, b) => a + b, 0);
  const plan = (engine as { plan?: StepPlan }).plan;
  let families: Record<string, { ms: number; tflops: number | null }> | undefined;
  if (profile && plan !== undefined && steps > 1) {
    const flops = familyFlops(plan, Math.ceil(rows / micro));
    families = Object.fromEntries(
      FAMILIES.map((f) => {
        const ms = (times[f] ?? 0) / (steps - 1);
        return [f, { ms: +ms.toFixed(3), tflops: ms > 0 && flops[f] > 0 ? +(flops[f] / (ms / 1000) / 1e12).toFixed(2) : null }];
      }),
    );
  }
  return { losses, seconds, tokensPerSec: later > 0 ? tokens / later : null, peak, seqLen: ds.info.seqLen, detail: engine.detail, families };
}

const maxRel = (a: number[], b: number[]) => Math.max(...b.map((x, i) => Math.abs(a[i] - x) / Math.abs(x)));
const round = (xs: number[], digits = 6) => xs.map((x) => +x.toFixed(digits));

/** Child: one preset on one backend; prints one JSON line per precision (one line of reference losses on wasm). */
async function child(preset: Preset, backendName: 'webgpu' | 'wasm', dirs: { data: string; small: string }, steps: number, reference: Record<string, number[]> | null) {
  try {
    const backend = await selectBackend(backendName);
    if (backendName === 'wasm') {
      const c = CHECK[preset];
      const r = await run(backend, preset, dirs[c.dir], c.rows, Math.min(c.rows, 2), 3, 'f32');
      console.log(JSON.stringify({ preset, reference: round(r.losses, 7) }));
      return;
    }
    for (const precision of PRECISIONS) {
      const out: Record<string, unknown> = { bench: 'gpu', preset, precision, rows: ROWS, micro: MICRO[preset] };
      const c = CHECK[preset];
      if (c !== undefined && reference?.[preset]) {
        const r = await run(backend, preset, dirs[c.dir], c.rows, c.rows, 3, precision);
        out.check = { rows: c.rows, seqLen: r.seqLen, webgpu: round(r.losses, 7), cpu: reference[preset], maxRelDiff: +maxRel(r.losses, reference[preset]).toExponential(2) };
      }
      const r = await run(backend, preset, dirs.data, ROWS, MICRO[preset], steps, precision, profile);
      const vocabRows = (await openDatasets([dirs.data])).info.vocabRows;
      Object.assign(out, {
        seqLen: r.seqLen,
        steps,
        losses: round(r.losses.slice(0, 3)),
        firstStepSeconds: +r.seconds[0].toFixed(2),
        secondsPerStep: +(r.seconds.slice(1).reduce((a, b) => a + b, 0) / (steps - 1)).toFixed(3),
        tokensPerSec: r.tokensPerSec === null ? null : Math.round(r.tokensPerSec),
        tflops: r.tokensPerSec === null ? null : +((r.tokensPerSec * modelFlopsPerToken({ ...PRESETS[preset], vocabRows }, r.seqLen)) / 1e12).toFixed(2),
        peakGpuBytes: r.peak,
        ...(r.families && { profile: r.families }),
        engine: r.detail,
        adapter: backend.detail,
      });
      console.log(JSON.stringify(out));
    }
  } catch (e) {
    console.log(JSON.stringify({ bench: 'gpu', preset, backend: backendName, skipped: String((e as Error)?.message ?? e).split('\n')[0] }));
  }
}

/** Shards from the fixtures, when no directories are given: 1024-token rows, and 128-token rows for the reference. */
function prepareShards(): { data: string; small: string } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-gpu-'));
  const prep = (seqLen: number) => {
    const out = path.join(tmp, `seq${seqLen}`);
    const inputs = ['chunk_0.jsonl.zst', 'chunk_1.jsonl.zst'].map((c) => path.join(fixtures, 'slimpajama', c));
    execFileSync(process.execPath, [path.join(here, '../bin/meap.js'), 'prepare', ...inputs, '-o', out, '-t', path.join(fixtures, 'tokenizers/llama2/tokenizer.json'), '--seq-len', String(seqLen), '--progress', 'none'], { stdio: 'ignore' });
    return out;
  };
  return { data: prep(1024), small: prep(128) };
}

/**
 * The limits --plan assumes: a data-centre GPU's binding size as Dawn reports it on NVIDIA's Vulkan
 * driver (2 GiB − 4, which 1b's 8 × 1024 MLP activations of 185 MB need: WebGPU's default is 128 MiB).
 */
const PLAN_LIMITS = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 31 };

function printPlans(presets: Preset[], rows: number, seqLen: number): void {
  const vocabRows = embeddingRows(32000, 32000);
  for (const preset of presets) {
    for (const precision of PRECISIONS) {
      const plan = planStep({ model: { ...PRESETS[preset], vocabRows }, rows, seqLen, precision, micros: 1, limits: PLAN_LIMITS });
      console.log(JSON.stringify({ preset, ...planSummary(plan) }));
    }
  }
}

const one = arg('--one') as Preset | undefined;
const profile = process.argv.includes('--profile');
const steps = Number(arg('--steps') ?? 6);
if (one !== undefined) {
  const reference = arg('--reference') ? (JSON.parse(fs.readFileSync(arg('--reference')!, 'utf8')) as Record<string, number[]>) : null;
  await child(one, arg('--backend') === 'wasm' ? 'wasm' : 'webgpu', { data: arg('--data')!, small: arg('--small')! }, steps, reference);
} else if (process.argv.includes('--plan')) {
  printPlans((arg('--presets') ?? 'tiny,100m,1b').split(',') as Preset[], Number(arg('--rows') ?? ROWS), Number(arg('--seq-len') ?? 1024));
} else {
  const presets = (arg('--presets') ?? 'tiny,100m,1b').split(',') as Preset[];
  // Without a GPU there is nothing to measure: say why before spending minutes on the reference.
  if (arg('--write-reference') === undefined) {
    try {
      await startWebgpu(false);
    } catch (e) {
      for (const preset of presets) console.log(JSON.stringify({ bench: 'gpu', preset, skipped: (e as Error).message }));
      process.exit(0);
    }
  }
  const dirs = arg('--data') && arg('--small') ? { data: arg('--data')!, small: arg('--small')! } : prepareShards();
  const spawnOne = (preset: Preset, extra: string[]) => {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--one', preset, '--data', dirs.data, '--small', dirs.small, '--steps', String(steps), ...extra], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const last = r.stdout.trim().split('\n').pop();
    return last ? (JSON.parse(last) as Record<string, unknown>) : { preset, skipped: `exit ${r.status ?? r.signal}` };
  };
  let referenceFile = arg('--reference');
  const write = arg('--write-reference');
  if (referenceFile === undefined) {
    // No reference given: compute it now on wasm (a minute or two per preset).
    const reference: Record<string, number[]> = {};
    for (const p of presets.filter((p) => CHECK[p] !== undefined)) {
      const r = spawnOne(p, ['--backend', 'wasm']);
      if (Array.isArray(r.reference)) reference[p] = r.reference as number[];
      else console.log(JSON.stringify({ bench: 'gpu-reference', ...r }));
    }
    referenceFile = write ?? path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-ref-')), 'reference.json');
    fs.writeFileSync(referenceFile, `${JSON.stringify(reference)}\n`);
    if (write !== undefined) {
      console.log(JSON.stringify({ bench: 'gpu-reference', file: write, reference }));
      process.exit(0);
    }
  }
  const torch = arg('--torch');
  for (const p of presets) {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--one', p, '--data', dirs.data, '--small', dirs.small, '--steps', String(steps), '--reference', referenceFile, ...(profile ? ['--profile'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
    if (lines.length === 0) console.log(JSON.stringify({ bench: 'gpu', preset: p, skipped: `exit ${r.status ?? r.signal}` }));
    for (const l of lines) console.log(l);
    if (torch !== undefined) {
      // PyTorch on the same shards and GPU, for the same shape: its fp32 and bf16 figures beside ours.
      for (const prec of ['fp32', 'bf16']) {
        const t = spawnSync('python3', [torch, dirs.data, p, String(ROWS), String(steps), prec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
        const last = t.stdout.trim().split('\n').pop();
        console.log(JSON.stringify({ bench: 'torch', preset: p, precision: prec, ...(last?.startsWith('{') ? JSON.parse(last) : { skipped: `exit ${t.status ?? t.signal}` }) }));
      }
    }
  }
}
