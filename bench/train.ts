/**
 * `npm run bench` (training part): tokens/s of full training steps per backend that loads here,
 * for the tiny and 100m presets at sequence length 128, on shards prepared from the fixtures.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../shared/fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-train-'));
const shards = path.join(tmp, 'shards');
try {
  execFileSync(process.execPath, [path.join(here, '../bin/meap.js'), 'prepare', path.join(fixtures, 'slimpajama/chunk_0.jsonl'), '--out', shards, '--tokenizer', path.join(fixtures, 'tokenizers/llama2/tokenizer.json'), '--seq-len', '128', '--progress', 'none'], { stdio: 'ignore' });
  // The plain-JS cpu backend needs seconds per tiny step and would need hours for 100m: skip that pair.
  const runs: [string, string, number, number][] = [
    ['gpu', 'tiny', 4, 5], ['gpu', '100m', 1, 3],
    ['webgpu', 'tiny', 4, 5], ['webgpu', '100m', 1, 3],
    ['node', 'tiny', 4, 5], ['node', '100m', 1, 3],
    ['wasm', 'tiny', 4, 5], ['wasm', '100m', 1, 2],
    ['cpu', 'tiny', 1, 2],
  ];
  for (const [backend, preset, rows, steps] of runs) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'train-once.ts'), backend, preset, String(rows), String(steps), shards], { encoding: 'utf8' });
    const last = r.stdout.trim().split('\n').pop();
    console.log(JSON.stringify({ bench: 'train', ...(last ? JSON.parse(last) : { backend, preset, skipped: `exit ${r.status ?? r.signal}` }) }));
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
