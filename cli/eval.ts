/**
 * `meap eval`: mean loss and perplexity of a run's latest checkpoint on held-out shards; with
 * --needle, needle-in-a-haystack retrieval over a grid of lengths and depths (cli/needle.ts).
 *
 * No unit test: it needs a trained run, which test/e2e/train.test.ts makes and then evaluates
 * through the CLI (`meap eval --json`), as test/e2e/needle.test.ts does with --needle; its options'
 * defaults are checked in test/cli/options.test.ts.
 */
import type { Command } from 'commander';
import { MeapError } from '../core/errors.ts';
import { EvalConfigSchema, NeedleConfigSchema } from '../schemas/train.ts';
import { hubOptions } from './context.ts';
import { addOptions, flagOf, givenOptions, parseConfig, type Flags } from './options.ts';
import type { EvalResult } from '../trainer/eval.ts';
import type { NeedleResult } from './needle.ts';
import { count, evalProgress, n } from './output.ts';

const FLAGS: Flags = {
  run: { flags: '--run <dir>', help: 'a run directory' },
  data: { flags: '--data <dir>', help: 'a meap output directory (repeatable)' },
  batchRows: { flags: '--batch-rows <n>', help: 'rows per forward pass' },
  maxRows: { flags: '--max-rows <n>', help: 'evaluate the first N rows only, in manifest order (default: every row)' },
  attentionStats: { flags: '--attention-stats', help: "also the paper's Table 10 on masked shards: the attention weight queries give [MASK] keys against other keys, and the weights' variance, per layer" },
  backend: { flags: '--backend <name>', help: 'TensorFlow.js backend' },
  json: { flags: '--json', help: 'machine-readable output' },
};

/** The flags of --needle alone. */
const NEEDLE_FLAGS: Flags = {
  haystack: { flags: '--haystack <input>', help: 'with --needle: the text the prompts are cut from, any input `meap prepare` reads (repeatable)' },
  lengths: { flags: '--lengths <list>', help: 'with --needle: prompt lengths in tokens, comma-separated', defaultHelp: '256,512,1024,2048' },
  depths: { flags: '--depths <list>', help: "with --needle: the needle's depths in per cent of the context, comma-separated", defaultHelp: '0,10,...,100' },
  needles: { flags: '--needles <n>', help: 'with --needle: prompts per cell of the grid, each with its own needle' },
  seed: { flags: '--seed <n>', help: 'with --needle: draws the needles' },
  needleFile: { flags: '--needle-file <file>', help: 'with --needle: JSONL of {needle, question, answer}, used in turn instead of drawn magic numbers' },
  savePrompts: { flags: '--save-prompts <file>', help: 'with --needle: write the prompts as JSONL (input_ids, answer_ids) for other tools to score' },
  out: { flags: '--out <dir>', help: 'with --needle: where needle.json and needle.svg go (default: the run directory)' },
  step: { flags: '--step <n>', help: 'with --needle: the checkpoint of step N (default: the latest)' },
  tokenizer: { flags: '--tokenizer <path>', help: "with --needle: the run's tokenizer.json (default: the copy `meap prepare` cached, by the sha256 the checkpoint records)" },
};

/** Options of --needle that plain eval also reads. */
const SHARED = ['run', 'backend', 'json'];

export function registerEval(program: Command): void {
  const cmd = program
    .command('eval')
    .description("mean loss and perplexity of a run's latest checkpoint on held-out shards (prepare them with --mask none); with --needle, needle-in-a-haystack retrieval")
    .option('--needle', 'score needle-in-a-haystack prompts over a grid of lengths and depths, not the loss on --data');
  // Which of --data and --haystack is required depends on --needle: the schemas check it.
  addOptions(cmd, { ...EvalConfigSchema.shape, data: EvalConfigSchema.shape.data.optional() }, FLAGS);
  addOptions(cmd, { ...NeedleConfigSchema.shape, haystack: NeedleConfigSchema.shape.haystack.optional() }, NEEDLE_FLAGS);
  cmd.action(async (_opts: unknown, command: Command) => {
    const plain = givenOptions(command, FLAGS);
    const needle = givenOptions(command, NEEDLE_FLAGS);
    const log = (line: string) => process.stderr.write(`meap eval: ${line}\n`);
    if (command.opts().needle === true) {
      const stray = Object.keys(plain).find((k) => !SHARED.includes(k));
      if (stray !== undefined) throw new MeapError('usage', `${flagOf(FLAGS, stray)} does not go with --needle`, {}, 'drop it; --needle reads --haystack');
      const shared = Object.fromEntries(SHARED.filter((k) => k in plain).map((k) => [k, plain[k]]));
      const cfg = parseConfig(NeedleConfigSchema, { ...shared, ...needle }, { ...FLAGS, ...NEEDLE_FLAGS });
      const { needleEval } = await import('./needle.ts');
      const { result, json, svg } = await needleEval(cfg, { hub: hubOptions(), log });
      process.stdout.write(cfg.json ? `${JSON.stringify(result)}\n` : needleSummary(result, json, svg));
      return;
    }
    const stray = Object.keys(needle)[0];
    if (stray !== undefined) throw new MeapError('usage', `${flagOf(NEEDLE_FLAGS, stray)} goes with --needle`, {}, 'add --needle, or drop it');
    const cfg = parseConfig(EvalConfigSchema, plain, FLAGS);
    const { evaluate } = await import('../trainer/eval.ts');
    const r = await evaluate(cfg, { log, progress: evalProgress('auto') });
    const rows = r.rows < r.dataRows ? `the first ${n(r.rows)} of ${count(r.dataRows, 'row')} (--max-rows)` : count(r.rows, 'row');
    const attention = r.attention === undefined ? '' : attentionTable(r.attention);
    process.stdout.write(
      cfg.json
        ? `${JSON.stringify(r)}\n`
        : `${cfg.run} (step ${r.step}) on ${cfg.data.join(', ')}: mean loss ${r.meanLoss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)} over ${count(r.targets, 'target')} in ${rows}\n${attention}`,
    );
  });
}

type AttentionResult = NonNullable<EvalResult['attention']>;

/** The paper's Table 10, a line a layer and their mean. */
function attentionTable(a: AttentionResult): string {
  const num = (x: number) => (Number.isFinite(x) ? x.toExponential(3) : 'n/a (no [MASK] key)');
  const line = (name: string, s: AttentionResult['mean']) => `${name.padEnd(8)}${num(s.maskWeight).padStart(12)}${num(s.otherWeight).padStart(12)}${num(s.variance).padStart(12)}`;
  return `${[`${'layer'.padEnd(8)}${'to [MASK]'.padStart(12)}${'to others'.padStart(12)}${'variance'.padStart(12)}`, ...a.layers.map((s, i) => line(String(i), s)), line('mean', a.mean)].join('\n')}\n`;
}

/** One screen: accuracy by depth (rows) and length (columns), the overall figures, the files. */
function needleSummary(r: NeedleResult, json: string, svg: string): string {
  const { lengths, depths } = r.settings;
  const cell = (l: number, d: number) => r.cells.find((c) => c.length === l && c.depth === d)!;
  const width = Math.max(6, ...lengths.map((l) => String(l).length + 1));
  const lines = [
    `${r.checkpoint.run} (step ${r.checkpoint.step}): needle accuracy by depth and length, ${count(r.settings.needles, 'prompt')} a cell`,
    `${'depth'.padEnd(7)}${lengths.map((l) => String(l).padStart(width)).join('')}`,
    ...depths.map((d) => `${`${d}%`.padEnd(7)}${lengths.map((l) => `${Math.round(100 * cell(l, d).accuracy)}%`.padStart(width)).join('')}`),
  ];
  const prompts = r.cells.reduce((a, c) => a + c.prompts, 0);
  const exact = r.cells.reduce((a, c) => a + c.accuracy * c.prompts, 0);
  const logProb = r.cells.reduce((a, c) => a + c.meanLogProb * c.prompts, 0) / prompts;
  lines.push(`all: ${n(Math.round(exact))} of ${count(prompts, 'prompt')} answered exactly, mean log-probability ${logProb.toFixed(3)} a token`);
  lines.push(`written: ${json}, ${svg}`);
  return `${lines.join('\n')}\n`;
}
