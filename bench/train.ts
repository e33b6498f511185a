/**
 * `npm run bench` (training part): tokens/s of full training steps per backend that loads here,
 * for the tiny and 100m presets at sequence length 128, on shards prepared from the fixtures.
 * Where .venv exists (`npm run setup:interop`), PyTorch on the CPU trains the same model on the same
 * shards beside them (bench/anchors/torch_train.py), at 2 threads and at 1 (the wasm backend's one).
 * The runs go round REPEATS times, interleaved, and the summary line per backend and preset takes
 * the median.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../schemas/train.ts';
import { openDatasets } from '../trainer/data.ts';
import { anchorPython, median } from './anchor-python.ts';
import { FIXTURES as fixtures } from './fixtures.ts';
import { BENCH_STEP } from './train-step.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SEQ_LEN = 128;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-train-'));
const shards = path.join(tmp, 'shards');

type Preset = keyof typeof PRESETS;
/** A meap backend, or PyTorch at a thread count. */
type Run = { backend: string; preset: Preset; rows: number; steps: number; torchThreads?: number };


try {
  execFileSync(process.execPath, [path.join(here, '../bin/meap.js'), 'prepare', path.join(fixtures, 'slimpajama/chunk_0.jsonl'), '--out', shards, '--tokenizer', path.join(fixtures, 'tokenizers/llama2/tokenizer.json'), '--seq-len', String(SEQ_LEN), '--progress', 'none'], { stdio: 'ignore' });
  const { vocabRows } = (await openDatasets([shards])).info;
  // The plain-JS cpu backend needs seconds per tiny step and would need hours for 100m: skip that pair.
  const meap: Run[] = (
    [
      ['gpu', 'tiny', 4, 5], ['gpu', '100m', 1, 3],
      ['webgpu', 'tiny', 4, 5], ['webgpu', '100m', 1, 3],
      ['node', 'tiny', 4, 5], ['node', '100m', 1, 3],
      ['wasm', 'tiny', 4, 5], ['wasm', '100m', 1, 2],
      ['cpu', 'tiny', 1, 2],
    ] as const
  ).map(([backend, preset, rows, steps]) => ({ backend, preset, rows, steps }));
  const torch: Run[] = [2, 1].flatMap((threads) => [
    { backend: 'pytorch', preset: 'tiny' as const, rows: 4, steps: 5, torchThreads: threads },
    { backend: 'pytorch', preset: '100m' as const, rows: 1, steps: 3, torchThreads: threads },
  ]);
  const python = anchorPython('train-anchor');
  let runs = [...meap, ...(python !== null ? torch : [])];

  const once = (run: Run): Record<string, unknown> => {
    const { backend, preset, rows, steps, torchThreads } = run;
    const r =
      torchThreads === undefined
        ? spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'train-once.ts'), backend, preset, String(rows), String(steps), shards], { encoding: 'utf8' })
        : spawnSync(python!, [path.join(here, 'anchors/torch_train.py'), shards, JSON.stringify({ preset, shape: PRESETS[preset], vocabRows, rows, steps, threads: torchThreads, ...BENCH_STEP })], { encoding: 'utf8' });
    const last = r.stdout.trim().split('\n').pop();
    if (torchThreads !== undefined && r.status !== 0) throw new Error(`bench/anchors/torch_train.py failed (${preset}, ${torchThreads} threads):\n${r.stderr}`);
    return last ? JSON.parse(last) : { backend, preset, skipped: `exit ${r.status ?? r.signal}` };
  };

  const results = new Map<Run, number[]>();
  for (let i = 0; i < REPEATS; i++) {
    for (const run of runs) {
      const r = once(run);
      console.log(JSON.stringify({ bench: 'train', ...r }));
      if (r.skipped === undefined) results.set(run, [...(results.get(run) ?? []), r.secondsPerStep as number]);
    }
    // A backend that does not load here does not load the next time round either.
    runs = runs.filter((run) => results.has(run));
  }
  for (const [run, seconds] of results) {
    const s = median(seconds);
    console.log(
      JSON.stringify({
        bench: 'train-summary',
        backend: run.torchThreads === undefined ? run.backend : `pytorch-cpu-${run.torchThreads}-threads`,
        preset: run.preset,
        rows: run.rows,
        length: SEQ_LEN,
        repeats: seconds.length,
        secondsPerStep: s,
        tokensPerSec: Math.round((run.rows * SEQ_LEN) / s),
      }),
    );
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
