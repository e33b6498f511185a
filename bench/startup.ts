/**
 * `npm run bench`, start-up part (issue 21): the wall time of `meap --version`, and of `meap prepare`
 * of one small file (samples/tiny-corpus/web.jsonl, Llama-2, default settings), as a user runs them:
 * `node bin/meap.js`. The first run with an empty $MEAP_CACHE builds the CLI's bundle, the worker
 * bundles and the bpe tables; the warm runs find them. Prints one JSON object per line: the first
 * run's time and the median of RUNS warm runs, in seconds.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './anchor-python.ts';
import { FIXTURES } from './fixtures.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 7);
const machine = `${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`;

function seconds(args: string[], cache: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [path.join(root, 'bin/meap.js'), ...args], { encoding: 'utf8', env: { ...process.env, MEAP_CACHE: cache } });
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  if (r.status !== 0) throw new Error(`meap ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return s;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-startup-'));
try {
  const commands: Record<string, (run: number) => string[]> = {
    version: () => ['--version'],
    'prepare-one-small-file': (run) => [
      'prepare',
      path.join(root, 'samples/tiny-corpus/web.jsonl'),
      '-t',
      path.join(FIXTURES, 'tokenizers/llama2/tokenizer.json'),
      '-o',
      path.join(tmp, `out-${run}`),
      '--progress',
      'none',
    ],
  };
  for (const [name, args] of Object.entries(commands)) {
    const cache = path.join(tmp, `cache-${name}`);
    const first = seconds(args(0), cache);
    const warm = Array.from({ length: RUNS }, (_, i) => seconds(args(i + 1), cache));
    console.log(JSON.stringify({ machine, bench: 'startup', command: name, firstRunS: +first.toFixed(3), warmMedianS: +median(warm).toFixed(3), warmRuns: RUNS }));
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
