/**
 * `npm run bench`: whole-pipeline tokens/s and peak RSS on the SlimPajama-layout fixtures repeated to
 * at least 50 MB of text, next to the native tokenizer alone on one thread over the same text.
 * Prints one JSON object per line. Each measurement runs in a fresh process so peak RSS is its own.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '../../shared/fixtures');
const tokenizer = path.join(fixtures, 'tokenizers/llama2/tokenizer.json');
const TARGET_TEXT_BYTES = Number(process.env.BENCH_TEXT_MB ?? 50) * 1e6;

function buildCorpus(dir: string): { files: number; textBytes: number } {
  const chunks = ['chunk_0', 'chunk_1'].map((c) => ({
    zst: path.join(fixtures, 'slimpajama', `${c}.jsonl.zst`),
    textBytes: fs.readFileSync(path.join(fixtures, 'slimpajama', `${c}.jsonl`), 'utf8').split('\n').filter(Boolean).reduce((s, l) => s + Buffer.byteLength(JSON.parse(l).text), 0),
  }));
  let textBytes = 0;
  let files = 0;
  while (textBytes < TARGET_TEXT_BYTES) {
    for (const c of chunks) {
      fs.copyFileSync(c.zst, path.join(dir, `copy${String(files).padStart(3, '0')}.jsonl.zst`));
      textBytes += c.textBytes;
      files++;
    }
  }
  return { files, textBytes };
}

function runChild(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Record<string, unknown> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(here, script), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-'));
try {
  const corpus = path.join(tmp, 'corpus');
  fs.mkdirSync(corpus);
  const { files, textBytes } = buildCorpus(corpus);
  const common = { machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}`, node: process.version, files, textMB: +(textBytes / 1e6).toFixed(1) };

  const single = runChild('tokenizer-alone.ts', [corpus, tokenizer], { RAYON_NUM_THREADS: '1' });
  console.log(JSON.stringify({ bench: 'tokenizer-native-1-thread', ...common, ...single }));

  const cores = os.availableParallelism();
  const runs = [
    { workers: 1, mask: 'random' },
    { workers: cores, mask: 'random' },
    { workers: cores, mask: 'span' },
  ].filter((r, i, all) => all.findIndex((o) => o.workers === r.workers && o.mask === r.mask) === i);
  for (const { workers, mask } of runs) {
    const out = path.join(tmp, `out-${workers}-${mask}`);
    const r = runChild('prepare-once.ts', [corpus, out, tokenizer, String(workers), mask]);
    const speedup = +((r.tokensPerSec as number) / (single.tokensPerSec as number)).toFixed(2);
    console.log(JSON.stringify({ bench: 'pipeline', engine: 'native', workers, mask, ...common, ...r, speedupVsTokenizer1Thread: speedup }));
    fs.rmSync(out, { recursive: true, force: true });
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
