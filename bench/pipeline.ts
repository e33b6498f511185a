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

  // This machine's speed drifts (shared host), so the baseline and the main configuration run
  // interleaved, REPEATS times each, and the summary compares medians.
  const cores = os.availableParallelism();
  const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
  const prepareRun = (workers: number, mask: string) => {
    const out = path.join(tmp, `out-${workers}-${mask}`);
    const r = runChild('prepare-once.ts', [corpus, out, tokenizer, String(workers), mask]);
    fs.rmSync(out, { recursive: true, force: true });
    console.log(JSON.stringify({ bench: 'pipeline', engine: 'native', workers, mask, ...common, ...r }));
    return r;
  };
  const singles: number[] = [];
  const pipelines: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const single = runChild('tokenizer-alone.ts', [corpus, tokenizer], { RAYON_NUM_THREADS: '1' });
    console.log(JSON.stringify({ bench: 'tokenizer-native-1-thread', ...common, ...single }));
    singles.push(single.tokensPerSec as number);
    const r = prepareRun(cores, 'random');
    pipelines.push(r.tokensPerSec as number);
    rss.push(r.peakRssMB as number);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const extra = [prepareRun(1, 'random'), prepareRun(cores, 'span')];
  console.log(
    JSON.stringify({
      bench: 'summary',
      ...common,
      workers: cores,
      repeats: REPEATS,
      tokenizer1ThreadTokensPerSec: median(singles),
      pipelineTokensPerSec: median(pipelines),
      speedupVsTokenizer1Thread: +(median(pipelines) / median(singles)).toFixed(2),
      pipelinePeakRssMB: Math.max(...rss),
      workers1TokensPerSec: extra[0].tokensPerSec,
      span5TokensPerSec: extra[1].tokensPerSec,
    }),
  );
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
