/**
 * `npm run experiment:needle`: MEAP against NTP on the same tokens, model and seeds (issue 22).
 *
 * From the fixtures: a training corpus (SlimPajama chunk_0 and retrieval documents whose keys and
 * values the evaluation never asks about, bench/needle-corpus.ts), prepared twice with `meap prepare`
 * (`--mask none` and `--mask random`, 15%, the mask seed = the training seed); a small model trained on
 * each with `meap train`, same recipe, for every seed; every checkpoint scored with `meap eval
 * --needle` on chunk_1 as the haystack, `meap eval --attention-stats` on chunk_1 masked, and the
 * held-out loss on chunk_1 unmasked. Prints the table and writes `results.json`, `results.md` and
 * `heatmaps.svg` (mean accuracy a cell, the arms side by side) to `--out`.
 *
 * Every command is the CLI a user runs (bin/meap.js), `--jobs` of them at a time: the wasm backend
 * trains on one thread, so two runs share the two cores of these machines.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createDecoder } from '../pipeline/tokenize/decode.ts';
import { createEncoder } from '../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../pipeline/tokenize/load.ts';
import { needleSvg } from '../trainer/plot.ts';
import { FIXTURES, fixtureTexts } from './fixtures.ts';
import { evalNeedles, retrievalCorpus } from './needle-corpus.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MEAP = path.join(ROOT, 'bin/meap.js');
const TOKENIZER = path.join(ROOT, 'samples/needle-tokenizer/tokenizer.json');
const TRAIN_TEXT = path.join(FIXTURES, 'slimpajama/chunk_0.jsonl');
const HELD_OUT = path.join(FIXTURES, 'slimpajama/chunk_1.jsonl');

/**
 * The setup, fixed before any result was seen: `tiny`'s shape on the 2,048-id vocabulary, rows of
 * 256 tokens, a learning rate for a model of this size (the paper's 4e-4 is for 100M and up).
 */
const MODEL = { layers: 2, hidden: 64, intermediate: 172, heads: 4, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 };
const SEQ_LEN = 256;
const BATCH = 8;
const LR = ['--lr', '1e-3', '--min-lr', '1e-4'];
const GRID = { lengths: [96, 160, 256, 512], depths: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], needles: 4, seed: 0 };
/** Rows of retrieval documents beside chunk_0's 2,638: about two fifths of the training rows. */
const RETRIEVAL_ROWS = 1800;
/** Held-out rows each evaluation reads. */
const EVAL_ROWS = 256;
/** NTP trains on `--mask none` shards, MEAP on `--mask random` shards of the same rows. */
const ARMS = ['NTP', 'MEAP'] as const;
type Arm = (typeof ARMS)[number];

const { values: opt } = parseArgs({
  options: {
    out: { type: 'string', default: 'needle-experiment' },
    seeds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '800' },
    jobs: { type: 'string', default: String(Math.min(2, os.availableParallelism())) },
    report: { type: 'boolean', default: false },
  },
});
/** A whole number ≥ 1 from the command line, or one line that says which option is wrong. */
function count(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`experiment:needle: --${name} ${value}: expected a whole number of 1 or more\n`);
    process.exit(2);
  }
  return n;
}
const out = path.resolve(opt.out!);
const seeds = Array.from({ length: count('seeds', opt.seeds!) }, (_, i) => i);
const steps = count('steps', opt.steps!);
const jobs = count('jobs', opt.jobs!);
const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 60000).toFixed(1)} min`;
const say = (line: string) => process.stderr.write(`experiment:needle [${elapsed()}] ${line}\n`);

/** Runs the CLI; its output goes to logs/NAME.log, its stdout is returned. */
function meap(name: string, args: string[]): Promise<string> {
  const log = path.join(out, 'logs', `${name}.log`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MEAP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const sink = fs.createWriteStream(log);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      sink.write(d);
    });
    child.stderr.pipe(sink);
    child.on('close', (code) => {
      sink.end();
      if (code === 0) resolve(stdout);
      else reject(new Error(`meap ${args[0]} (${name}) exited with ${code}; see ${path.relative(process.cwd(), log)}`));
    });
  });
}

/** `jobs` tasks at a time, results in order. */
async function pool<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, worker));
  return results;
}

async function writeCorpus(): Promise<void> {
  const tok = await loadTokenizer(TOKENIZER, {});
  const encoder = await createEncoder(tok, 'bpe', 1);
  const decoder = await createDecoder(tok);
  try {
    const corpus = await retrievalCorpus({
      encode: async (text) => (await encoder.encodeBatch([text]))[0],
      decode: (ids) => decoder.decode(ids),
      haystack: fixtureTexts('slimpajama/chunk_0.jsonl').join('\n\n'),
      seqLen: SEQ_LEN,
      rows: RETRIEVAL_ROWS,
      avoid: evalNeedles(GRID.seed, GRID.lengths.length * GRID.depths.length * GRID.needles),
      seed: 0,
    });
    fs.writeFileSync(path.join(out, 'corpus/retrieval.jsonl'), corpus.lines.join(''));
    say(`retrieval documents: ${corpus.documents} in ${RETRIEVAL_ROWS} rows (${corpus.excluded} drawn needles dropped for sharing a key or value with the evaluation)`);
  } finally {
    await encoder.close();
  }
}

interface RunMetrics {
  arm: Arm;
  seed: number;
  accuracy: number;
  accuracyTrained: number;
  accuracyBeyond: number;
  logProb: number;
  heldOutLoss: number;
  maskWeight: number;
  otherWeight: number;
  variance: number;
  cells: { length: number; depth: number; accuracy: number; meanLogProb: number }[];
}

async function evaluate(arm: Arm, seed: number): Promise<RunMetrics> {
  const run = path.join(out, 'runs', `${arm}-${seed}`);
  const name = `${arm}-${seed}`;
  const needle = JSON.parse(
    await meap(`needle-${name}`, [
      'eval', '--needle', '--run', run, '--haystack', HELD_OUT, '--tokenizer', TOKENIZER, '--backend', 'wasm', '--json',
      '--lengths', GRID.lengths.join(','), '--depths', GRID.depths.join(','), '--needles', String(GRID.needles), '--seed', String(GRID.seed),
    ]),
  ) as { cells: RunMetrics['cells'] };
  const plain = JSON.parse(await meap(`loss-${name}`, ['eval', '--run', run, '--data', path.join(out, 'shards/held-none'), '--max-rows', String(EVAL_ROWS), '--backend', 'wasm', '--json'])) as { meanLoss: number };
  const masked = JSON.parse(
    await meap(`attention-${name}`, ['eval', '--run', run, '--data', path.join(out, 'shards/held-random'), '--max-rows', String(EVAL_ROWS), '--attention-stats', '--backend', 'wasm', '--json']),
  ) as { attention: { mean: { maskWeight: number; otherWeight: number; variance: number } } };
  const { cells } = needle;
  return {
    arm,
    seed,
    accuracy: meanOver(cells, () => true, 'accuracy'),
    accuracyTrained: meanOver(cells, (l) => l <= SEQ_LEN, 'accuracy'),
    accuracyBeyond: meanOver(cells, (l) => l > SEQ_LEN, 'accuracy'),
    logProb: meanOver(cells, () => true, 'meanLogProb'),
    heldOutLoss: plain.meanLoss,
    ...masked.attention.mean,
    cells,
  };
}

/** The table's rows: a figure of one run each, compared across arms and paired by seed. */
interface Metric {
  label: string;
  of: (run: RunMetrics) => number;
  digits: number;
  percent?: boolean;
}

/** The mean of `key` over the cells whose length `keep` takes. */
const meanOver = (all: RunMetrics['cells'], keep: (length: number) => boolean, key: 'accuracy' | 'meanLogProb') => {
  const cells = all.filter((c) => keep(c.length));
  return cells.reduce((a, c) => a + c[key], 0) / cells.length;
};

const METRICS: Metric[] = [
  { label: 'needle accuracy, all cells', of: (r) => r.accuracy, digits: 1, percent: true },
  { label: `needle accuracy, length ≤ ${SEQ_LEN} (trained)`, of: (r) => r.accuracyTrained, digits: 1, percent: true },
  { label: `needle accuracy, length > ${SEQ_LEN}`, of: (r) => r.accuracyBeyond, digits: 1, percent: true },
  { label: 'answer log-prob a token, all cells', of: (r) => r.logProb, digits: 3 },
  ...GRID.lengths.map((length) => ({ label: `answer log-prob a token, length ${length}`, of: (r: RunMetrics) => meanOver(r.cells, (l) => l === length, 'meanLogProb'), digits: 3 })),
  { label: 'held-out loss (chunk_1, unmasked)', of: (r) => r.heldOutLoss, digits: 4 },
  { label: 'attention to a [MASK] key', of: (r) => r.maskWeight, digits: 5 },
  { label: 'attention to another key', of: (r) => r.otherWeight, digits: 5 },
  { label: 'variance of attention weights', of: (r) => r.variance, digits: 6 },
];

const meanSd = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return { m, sd };
};

function table(runs: RunMetrics[], seeds: number[]): string {
  const of = (arm: Arm, metric: Metric) => seeds.map((s) => metric.of(runs.find((r) => r.arm === arm && r.seed === s)!));
  const lines = [
    `| metric | NTP, mean ± sd | MEAP, mean ± sd | MEAP − NTP by seed (${seeds.join(', ')}) | MEAP − NTP, mean ± sd |`,
    '|---|---:|---:|---:|---:|',
  ];
  for (const metric of METRICS) {
    const scale = metric.percent ? 100 : 1;
    const f = (x: number) => (x * scale).toFixed(metric.digits) + (metric.percent ? '%' : '');
    const fd = (x: number) => (x >= 0 ? '+' : '') + (x * scale).toFixed(metric.digits) + (metric.percent ? ' pt' : '');
    const ms = (xs: number[], fmt: (x: number) => string) => {
      const { m, sd } = meanSd(xs);
      return `${fmt(m)} ± ${(sd * scale).toFixed(metric.digits)}`;
    };
    const ntp = of('NTP', metric);
    const meap = of('MEAP', metric);
    const diff = meap.map((x, i) => x - ntp[i]);
    lines.push(`| ${metric.label} | ${ms(ntp, f)} | ${ms(meap, f)} | ${diff.map(fd).join(', ')} | ${ms(diff, fd)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** The arms' mean accuracy a cell, side by side in one SVG. */
function heatmaps(runs: RunMetrics[], steps: number): string {
  const panels = ARMS.map((name) => {
    const mine = runs.filter((r) => r.arm === name);
    const cells = mine[0].cells.map((c, i) => ({ length: c.length, depth: c.depth, accuracy: mine.reduce((a, r) => a + r.cells[i].accuracy, 0) / mine.length }));
    return needleSvg(cells, `${name}: mean of ${mine.length} seeds, ${steps} steps`);
  });
  const size = (svg: string) => svg.match(/width="(\d+)" height="(\d+)"/)!.slice(1).map(Number);
  const [w0, h0] = size(panels[0]);
  const [w1, h1] = size(panels[1]);
  const inner = panels.map((svg, i) => svg.replace('<svg ', `<svg x="${i === 0 ? 0 : w0}" `)).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w0 + w1}" height="${Math.max(h0, h1)}" viewBox="0 0 ${w0 + w1} ${Math.max(h0, h1)}">\n${inner}</svg>\n`;
}

async function main(): Promise<void> {
  if (fs.existsSync(out) && !fs.existsSync(path.join(out, 'corpus')) && fs.readdirSync(out).length > 0) {
    throw new Error(`${out} exists and is not an earlier experiment's folder: pass another --out`);
  }
  fs.rmSync(out, { recursive: true, force: true });
  for (const d of ['corpus', 'logs', 'runs', 'shards']) fs.mkdirSync(path.join(out, d), { recursive: true });
  fs.writeFileSync(path.join(out, 'model.json'), `${JSON.stringify(MODEL)}\n`);
  say(`${seeds.length} seeds × 2 arms, ${steps} steps of ${BATCH} × ${SEQ_LEN} tokens, ${jobs} at a time, in ${out}`);

  await writeCorpus();
  const prepare = (name: string, inputs: string[], extra: string[]) => () =>
    meap(`prepare-${name}`, ['prepare', ...inputs, '-t', TOKENIZER, '-o', path.join(out, 'shards', name), '--seq-len', String(SEQ_LEN), '--progress', 'none', ...extra]);
  const train = [TRAIN_TEXT, path.join(out, 'corpus/retrieval.jsonl')];
  await pool([
    prepare('NTP', train, ['--mask', 'none']),
    ...seeds.map((s) => prepare(`MEAP-${s}`, train, ['--mask', 'random', '--seed', String(s)])),
    prepare('held-none', [HELD_OUT], ['--mask', 'none']),
    prepare('held-random', [HELD_OUT], ['--mask', 'random']),
  ]);
  say('prepared: shards/NTP, shards/MEAP-<seed>, shards/held-none, shards/held-random');

  const pairs = seeds.flatMap((seed) => ARMS.map((arm) => ({ arm, seed })));
  await pool(
    pairs.map(({ arm, seed }) => async () => {
      const data = path.join(out, 'shards', arm === 'NTP' ? 'NTP' : `MEAP-${seed}`);
      await meap(`train-${arm}-${seed}`, [
        'train', '--data', data, '--out', path.join(out, 'runs', `${arm}-${seed}`), '--model', path.join(out, 'model.json'),
        '--steps', String(steps), '--batch-size', String(BATCH), '--seed', String(seed), ...LR, '--backend', 'wasm', '--checkpoint-every', String(steps), '--keep-last', '1',
      ]);
      say(`trained ${arm} seed ${seed}`);
    }),
  );
  const runs = await pool(pairs.map(({ arm, seed }) => () => evaluate(arm, seed)));
  say('evaluated every checkpoint');

  const results: Results = { model: MODEL, seqLen: SEQ_LEN, batch: BATCH, steps, lr: LR, grid: GRID, retrievalRows: RETRIEVAL_ROWS, evalRows: EVAL_ROWS, seeds, minutes: (performance.now() - started) / 60000, runs };
  fs.writeFileSync(path.join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  report(results);
}

interface Results {
  model: typeof MODEL;
  seqLen: number;
  batch: number;
  steps: number;
  lr: string[];
  grid: typeof GRID;
  retrievalRows: number;
  evalRows: number;
  seeds: number[];
  minutes: number;
  runs: RunMetrics[];
}

/** results.md and heatmaps.svg from the numbers; `--report` redraws them from an earlier run's results.json. */
function report(results: Results): void {
  const md = table(results.runs, results.seeds);
  fs.writeFileSync(path.join(out, 'results.md'), md);
  fs.writeFileSync(path.join(out, 'heatmaps.svg'), heatmaps(results.runs, results.steps));
  process.stdout.write(md);
  say(`done; ${path.relative(process.cwd(), out)}/results.md, results.json, heatmaps.svg`);
}

(opt.report ? async () => report(JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Results) : main)().catch((e: unknown) => {
  process.stderr.write(`experiment:needle: ${(e as Error).message}\n`);
  process.exit(1);
});
