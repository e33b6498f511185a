/**
 * Argument parsing and presentation only: every command's logic lives in its own module.
 * Exit codes: 0 success, 1 verification failure, 2 bad input/option/usage, 130/143 SIGINT/SIGTERM.
 */
import { availableParallelism } from 'node:os';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ENGINES, FORMATS, PrepareConfigSchema, type PrepareConfigInput } from '../schemas/config.ts';
import { runDemo } from './demo.ts';
import { MeapError } from './errors.ts';
import { inspect } from './inspect.ts';
import { createProgress } from './progress.ts';
import { merge, prepare } from './run.ts';
import { summarize } from './summary.ts';
import { verify } from './verify.ts';
import { BACKENDS, PRESETS, TrainConfigSchema, type BackendChoice } from '../schemas/train.ts';

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

function int(name: string, min = 0) {
  return (v: string) => {
    if (!/^\d+$/.test(v.trim()) || Number(v) < min || !Number.isSafeInteger(Number(v))) {
      throw new InvalidArgumentError(`${name} must be a whole number ≥ ${min}.`);
    }
    return Number(v);
  };
}
function float(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number ≥ 0.`);
    return n;
  };
}
function ratio(v: string) {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number from 0 to 1.');
  return n;
}
const collect = (v: string, prev: string[]) => [...prev, v];

/** Options shared by `prepare` and `demo`: how documents become masked rows. */
function addPipelineOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--engine <engine>', 'tokenizer engine: native (Rust `tokenizers`) or js (`@huggingface/tokenizers`); identical ids').choices(ENGINES).default('native'))
    .addOption(
      new Option('--workers <n>', 'tokenizer threads (output is identical for any value)')
        .argParser(int('--workers', 1))
        .default(availableParallelism(), `the core count, ${availableParallelism()} here`),
    )
    .option('--seq-len <n>', 'tokens per packed row', int('--seq-len', 2), 4096)
    .addOption(new Option('--mask <strategy>', 'masking strategy').choices(['random', 'span', 'none']).default('random'))
    .option('--mask-ratio <r>', 'fraction of eligible positions (pretrain) or answer tokens (sft) to mask (default: 0.15 pretrain, 0.10 sft)', ratio)
    .option('--span-length <n>', "span length for --mask span; 50 is the paper's other ablation (default: 5 with --mask span)", int('--span-length', 1))
    .option('--seed <int>', 'global mask seed', int('--seed'), 0)
    .option('--shard-rows <n>', 'rows per Arrow shard at most', int('--shard-rows', 1), 1024)
    .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'log', 'none']).default('auto'));
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('meap')
    .description('Reproducible MEAP-masked training shards from raw text corpora')
    .option('--debug', 'print stack traces of internal errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  let result = 0;
  const controller = new AbortController();

  addPipelineOptions(
    program
      .command('prepare')
      .description('tokenize, pack, mask and write Arrow shards + manifest.json')
      .argument('<inputs...>', 'input files, directories or globs (.jsonl, .jsonl.zst, .json, .parquet), or hf://datasets/ORG/NAME[@REVISION]/GLOB')
      .requiredOption('-o, --out <dir>', 'output directory')
      .requiredOption('-t, --tokenizer <path>', 'Hugging Face tokenizer.json (config files beside it are read too), or hf://ORG/MODEL[@REVISION]')
      .addOption(new Option('--mode <mode>', 'pretrain: packed documents; sft: Alpaca/ShareGPT examples, MEAP duplicate-and-mask').choices(['pretrain', 'sft']).default('pretrain'))
      .addOption(new Option('--format <format>', 'input format (default: by file extension)').choices(FORMATS))
      .option('--text-field <name>', 'record field that holds the document text', 'text')
      .option('--exclude-set <name>', 'skip records whose meta.redpajama_set_name is NAME (repeatable)', collect, [])
      .option('--limit <n>', 'read only the first N records of each input (default: all records)', int('--limit', 1))
      .option('--no-bos', 'do not start documents with BOS (default: BOS on where the tokenizer has one)')
      .option('--no-eos', 'do not end documents with EOS (default: EOS on)')
      .option('--bos-id <id>', 'override the BOS id (default: from the tokenizer)', int('--bos-id'))
      .option('--eos-id <id>', 'override the EOS id (default: from the tokenizer)', int('--eos-id'))
      .option('--mask-token-id <id>', "override the [MASK] id (default: the tokenizer's [MASK]/<mask>, else the vocab size)", int('--mask-token-id'))
      .addOption(new Option('--on-error <mode>', 'bad records: fail (exit 2) or skip and count them').choices(['fail', 'skip']).default('fail'))
      .option('--num-partitions <n>', 'split the input files into N partitions (default: SLURM_ARRAY_TASK_COUNT in a Slurm array, else 1)', int('--num-partitions', 1))
      .option('--partition <i>', 'process partition I (0-based): input file k belongs to partition k mod N (default: from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN or JOB_COMPLETION_INDEX, else 0)', int('--partition'))
      .option('--max-doc-chars <n>', 'longest document (or SFT record text) accepted; longer is an input error, or a skip counted as tooLong', int('--max-doc-chars', 1), 8_000_000)
      .option('--overwrite', 'replace existing meap output in --out', false)
      .option('--template <name|file>', 'sft prompt template: alpaca, llama3, or a FILE.json', 'alpaca')
      .option('--min-answer-tokens <n>', 'sft: duplicate and mask examples whose answer has more tokens than this', int('--min-answer-tokens'), 50)
      .addOption(new Option('--sft-layout <layout>', 'sft: original and masked copy in one row (concat, as the paper) or two rows (separate, as its code)').choices(['concat', 'separate']).default('concat'))
      .option('--pack', 'sft: pack examples greedily into --seq-len rows (position_ids restart per example)', false),
  ).action(async (inputs: string[], opts: Record<string, unknown>, cmd: Command) => {
    rejectOtherModesOptions(cmd, opts.mode as string);
    const { excludeSet, ...rest } = opts;
    const cfg = parseConfig({ ...rest, excludeSets: excludeSet, inputs } as PrepareConfigInput);
    const result = await prepare(cfg, { progress: createProgress(cfg.progress), signal: controller.signal });
    if (result.manifest !== null) process.stdout.write(summarize(result.manifest, cfg.out));
    else {
      const { index, of } = result.partition;
      process.stdout.write(`${cfg.out}: partition ${index} of ${of} done (${result.unitsDone} of ${result.unitsTotal} input files); run \`meap merge ${cfg.out}\` once all ${of} partitions have finished\n`);
    }
  });

  addPipelineOptions(
    program
      .command('demo')
      .description('prepare the small corpus shipped with meap, offline, with the GPT-2 tokenizer, and print a summary')
      .option('-o, --out <dir>', 'output directory (replaced if it holds meap output)', 'meap-demo'),
  ).action(async (opts: Record<string, unknown>) => {
    await runDemo(opts, controller.signal);
  });

  program
    .command('download')
    .description('mirror files of a Hugging Face hub repository (resumable, sha256-verified)')
    .argument('<repo-id>', 'ORG/NAME, e.g. cerebras/SlimPajama-627B')
    .addOption(new Option('--repo-type <type>', 'repository type').choices(['dataset', 'model']).default('dataset'))
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--include <glob>', 'only files whose repo path matches (repeatable; default: all files)', collect, [])
    .option('--out <dir>', 'mirror into DIR, keeping each repo path (default: the cache, $MEAP_CACHE or ~/.cache/meap)')
    .option('--concurrency <n>', 'files downloaded at once', int('--concurrency', 1), 4)
    .option('--max-retries <n>', 'retries per request on connection errors, 5xx and 429', int('--max-retries'), 5)
    .action(async (repoId: string, opts: { repoType: 'dataset' | 'model'; revision: string; include: string[]; out?: string; concurrency: number; maxRetries: number }) => {
      const { download, parseHfUri } = await import('../datasets/hub.ts');
      const ref = parseHfUri(`hf://${opts.repoType === 'dataset' ? 'datasets/' : ''}${repoId}@${encodeURIComponent(opts.revision)}`);
      const got = await download(ref, {
        include: opts.include.length > 0 ? opts.include : undefined,
        out: opts.out,
        concurrency: opts.concurrency,
        maxRetries: opts.maxRetries,
        progress: process.stderr.isTTY,
        log: (line) => process.stderr.write(`meap: ${line}\n`),
      });
      process.stdout.write(`${repoId}@${got.sha}: ${got.files.length} files\n${got.files.map((f) => `  ${f.local}`).join('\n')}\n`);
    });

  program
    .command('merge')
    .description('write the final manifest.json once every partition of a `prepare` has finished')
    .argument('<dir>', 'the shared output directory')
    .action(async (dir: string) => {
      process.stdout.write(summarize(await merge(dir), dir));
    });

  program
    .command('inspect')
    .description('print the manifest summary and one row decoded, masked tokens shown as [MASK:original]')
    .argument('<dir>', 'a meap output directory')
    .option('--row <n>', 'row to decode (0-based, across shards in manifest order)', int('--row'), 0)
    .option('--tokenizer <path>', 'tokenizer.json to decode with, if not the one at the manifest\'s recorded path')
    .option('--json', 'machine-readable output', false)
    .action(async (dir: string, opts: { row: number; json: boolean; tokenizer?: string }) => {
      process.stdout.write(await inspect(dir, opts));
    });

  program
    .command('verify')
    .description('re-hash every shard and check its schema and counts against the manifest (exit 1 on any failure)')
    .argument('<dir>', 'a meap output directory')
    .action(async (dir: string) => {
      const report = await verify(dir);
      process.stdout.write(report.text);
      result = report.ok ? 0 : 1;
    });

  program
    .command('train')
    .description('train a Llama-style model with TensorFlow.js directly on meap shards (pre-training or SFT)')
    .requiredOption('--data <dir>', 'a meap output directory (repeatable)', collect, [])
    .requiredOption('--out <dir>', 'run directory: checkpoints/, metrics.jsonl, loss.svg')
    .option('--model <preset|file>', `model: ${Object.keys(PRESETS).join(', ')}, or FILE.json {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}`, 'tiny')
    .requiredOption('--steps <n>', 'optimizer steps', int('--steps', 1))
    .option('--batch-size <n>', 'rows per optimizer step', int('--batch-size', 1), 8)
    .option('--micro-batch <n>', 'rows per forward/backward pass; gradients accumulate up to --batch-size (default: --batch-size)', int('--micro-batch', 1))
    .option('--lr <x>', 'peak learning rate', float('--lr'), 4e-4)
    .option('--min-lr <x>', 'learning rate at the end of the cosine decay', float('--min-lr'), 4e-5)
    .option('--warmup <fraction>', 'fraction of steps with linear warm-up', ratio, 0.1)
    .option('--weight-decay <x>', 'decoupled AdamW weight decay (not on norms)', float('--weight-decay'), 0.05)
    .option('--beta1 <x>', 'AdamW beta1', ratio, 0.9)
    .option('--beta2 <x>', 'AdamW beta2', ratio, 0.95)
    .option('--clip <x>', 'global gradient-norm clipping (0: off)', float('--clip'), 1.0)
    .option('--seed <int>', 'initialisation and data-order seed', int('--seed'), 0)
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend (auto: gpu, node, wasm, cpu, the first that loads)').choices(BACKENDS).default('auto'))
    .option('--checkpoint-every <k>', 'steps between checkpoints', int('--checkpoint-every', 1), 100)
    .option('--keep-last <n>', 'checkpoints to keep', int('--keep-last', 1), 3)
    .option('--resume', 'continue from the latest complete checkpoint in --out', false)
    .addOption(new Option('--progress <mode>', 'progress display').choices(['auto', 'bar', 'log', 'none']).default('auto'))
    .action(async (opts: Record<string, unknown>) => {
      const parsed = TrainConfigSchema.safeParse(opts);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new MeapError('usage', `invalid option ${issue.path.join('.')}: ${issue.message}`);
      }
      const cfg = parsed.data;
      // TensorFlow.js loads only for the commands that need it: it would slow every other start-up.
      const { train } = await import('../trainer/train.ts');
      const { trainProgress } = await import('../trainer/progress.ts');
      const history = await train(cfg, { signal: controller.signal, log: (l) => process.stderr.write(`${l}\n`), progress: trainProgress(cfg.progress) });
      const last = history.at(-1);
      process.stdout.write(`${cfg.out}: ${history.length} steps${last ? `, last loss ${last.loss.toFixed(4)}` : ''}; metrics.jsonl, loss.svg and checkpoints/ written\n`);
    });

  program
    .command('plot')
    .description('redraw RUN_DIR/loss.svg from RUN_DIR/metrics.jsonl')
    .argument('<run>', 'a run directory')
    .action(async (run: string) => {
      const { plotRun } = await import('../trainer/plot-run.ts');
      process.stdout.write(`${await plotRun(run)}\n`);
    });

  program
    .command('eval')
    .description('mean loss and perplexity of a run\'s latest checkpoint on held-out shards (prepare them with --mask none)')
    .requiredOption('--run <dir>', 'a run directory')
    .requiredOption('--data <dir>', 'a meap output directory (repeatable)', collect, [])
    .option('--batch-rows <n>', 'rows per forward pass', int('--batch-rows', 1), 4)
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend').choices(BACKENDS).default('auto'))
    .option('--json', 'machine-readable output', false)
    .action(async (opts: { run: string; data: string[]; batchRows: number; backend: BackendChoice; json: boolean }) => {
      const { evaluate } = await import('../trainer/eval.ts');
      const r = await evaluate(opts);
      process.stdout.write(
        opts.json
          ? `${JSON.stringify(r)}\n`
          : `${opts.run} (step ${r.step}) on ${opts.data.join(', ')}: mean loss ${r.meanLoss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)} over ${r.targets} targets in ${r.rows} rows\n`,
      );
    });

  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
    controller.abort(new Interrupted(signal));
    // Work in flight (a tokenizer batch) may not notice at once; never take more than ~1.5 s to stop.
    setTimeout(() => {
      process.stderr.write(`meap: ${new Interrupted(signal).message}\n`);
      process.exit(SIGNAL_EXIT[signal]);
    }, 1500).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await program.parseAsync(argv);
    return result;
  } catch (e) {
    return report(e, program.opts().debug === true || argv.includes('--debug'));
  }
}

/** An option that only the other mode reads would be silently ignored: say so instead. */
function rejectOtherModesOptions(cmd: Command, mode: string): void {
  const only: Record<string, string[]> = {
    pretrain: ['mask', 'spanLength', 'textField', 'excludeSet'],
    sft: ['template', 'minAnswerTokens', 'sftLayout', 'pack'],
  };
  for (const [owner, names] of Object.entries(only)) {
    if (owner === mode) continue;
    const given = names.find((n) => cmd.getOptionValueSource(n) === 'cli');
    if (given !== undefined) {
      const flag = `--${given.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      throw new MeapError('usage', `${flag} applies to --mode ${owner} only`, {}, `drop it, or pass --mode ${owner}`);
    }
  }
}

function parseConfig(input: PrepareConfigInput) {
  const parsed = PrepareConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MeapError('usage', `invalid option ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

function report(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // Commander already printed the message or the help text.
    return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
  }
  if (e instanceof Interrupted) {
    process.stderr.write(`meap: ${e.message}; partial output was not published (no manifest.json was written)\n`);
    return SIGNAL_EXIT[e.signal] ?? 130;
  }
  if (e instanceof MeapError) {
    process.stderr.write(`meap: error: ${e.message}\n`);
    return e.exitCode;
  }
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    process.stderr.write(`meap: error: the disk is full (${code}); free space and run the command again\n`);
    return 2;
  }
  if (debug) process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  process.stderr.write(`meap: internal error: ${(e as Error)?.message ?? e}${debug ? '' : ' (rerun with --debug for details)'}\n`);
  return 70;
}
