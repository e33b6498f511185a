/**
 * `meap prepare` (and the options `meap demo` shares with it).
 *
 * No unit test: the command is run through the CLI by test/e2e/prepare.test.ts and
 * prepare-sft.test.ts (also hostile-cli, resume, hub-cli and golden-rows there);
 * test/cli/options.test.ts checks its --help defaults and its refusal of the other mode's options.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { z } from 'zod';
import { InputError, MeapError } from '../core/errors.ts';
import { INPUT_EXTENSIONS } from '../datasets/inputs.ts';
import { MODES } from '../schemas/enums.ts';
import { DEFAULT_SPAN_LENGTH, PrepareConfigSchema, PretrainOptionsSchema, SftOptionsSchema } from '../schemas/prepare.ts';
import { dryRun } from '../pipeline/dry-run.ts';
import { prepare } from '../pipeline/run.ts';
import { describeDryRun } from './dry-run.ts';
import { hubOptions, type CliContext } from './context.ts';
import { addOptions, defaultOf, givenOptions, parseConfig, type Flags } from './options.ts';
import { count, prepareProgress, summarize } from './output.ts';

const pretrain = PretrainOptionsSchema.shape;
const sft = SftOptionsSchema.shape;

/** Every field either mode reads, plus `mode` itself as a choice. */
export const PREPARE_FIELDS: Record<string, z.ZodType> = { ...pretrain, ...sft, mode: z.enum(MODES).default(MODES[0]) };

/** The mode whose schema alone has `key`. */
const modeOwning = (key: string) => (Object.hasOwn(pretrain, key) && !Object.hasOwn(sft, key) ? 'pretrain' : Object.hasOwn(sft, key) && !Object.hasOwn(pretrain, key) ? 'sft' : undefined);

/** How documents become masked rows: shared by `prepare` and `demo`. */
export const PIPELINE_FLAGS: Flags = {
  engine: { flags: '--engine <engine>', help: "tokenizer engine: bpe (meap's own; native where it does not apply), native (Rust `tokenizers`) or js (`@huggingface/tokenizers`); identical ids" },
  workers: { flags: '--workers <n>', help: "worker threads: whole input files each, or one file's tokenizer batches (output is identical for any value)", defaultHelp: `the core count, ${availableParallelism()} here` },
  seqLen: { flags: '--seq-len <n>', help: 'tokens per packed row' },
  mask: { flags: '--mask <strategy>', help: 'masking strategy' },
  maskRatio: {
    flags: '--mask-ratio <r>',
    help: `fraction of eligible positions (pretrain) or answer tokens (sft) to mask (default: ${defaultOf(pretrain.maskRatio)} pretrain, ${Number(defaultOf(sft.maskRatio)).toFixed(2)} sft)`,
    hideDefault: true,
  },
  spanLength: { flags: '--span-length <n>', help: `span length for --mask span; 50 is the paper's other ablation (default: ${DEFAULT_SPAN_LENGTH} with --mask span)` },
  seed: { flags: '--seed <int>', help: 'global mask seed' },
  shardRows: { flags: '--shard-rows <n>', help: 'rows per Arrow shard at most' },
  progress: { flags: '--progress <mode>', help: 'progress display' },
};

const PREPARE_ONLY_FLAGS: Flags = {
  out: { flags: '-o, --out <dir>', help: 'output directory' },
  tokenizer: { flags: '-t, --tokenizer <path>', help: 'Hugging Face tokenizer.json (config files beside it are read too), or hf://ORG/MODEL[@REVISION]' },
  mode: { flags: '--mode <mode>', help: 'pretrain: packed documents; sft: Alpaca/ShareGPT examples, MEAP duplicate-and-mask' },
  format: { flags: '--format <format>', help: 'input format (default: by file extension)' },
  textField: { flags: '--text-field <name>', help: 'record field that holds the document text' },
  excludeSets: { flags: '--exclude-set <name>', help: 'skip records whose meta.redpajama_set_name is NAME (repeatable)' },
  limit: { flags: '--limit <n>', help: 'read only the first N records of each input (default: all records)' },
  bos: { flags: '--no-bos', help: 'do not start documents with BOS (default: BOS on where the tokenizer has one)' },
  eos: { flags: '--no-eos', help: 'do not end documents with EOS (default: EOS on)' },
  bosId: { flags: '--bos-id <id>', help: 'override the BOS id (default: from the tokenizer)' },
  eosId: { flags: '--eos-id <id>', help: 'override the EOS id (default: from the tokenizer)' },
  maskTokenId: { flags: '--mask-token-id <id>', help: "override the [MASK] id (default: the tokenizer's [MASK]/<mask>, else the vocab size)" },
  onError: { flags: '--on-error <mode>', help: 'bad records: fail (exit 2) or skip and count them' },
  numPartitions: { flags: '--num-partitions <n>', help: 'split the input files into N partitions (default: SLURM_ARRAY_TASK_COUNT in a Slurm array, else 1)' },
  partition: {
    flags: '--partition <i>',
    help: 'process partition I (0-based): input file k belongs to partition k mod N (default: from SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN or JOB_COMPLETION_INDEX, else 0)',
  },
  maxDocChars: { flags: '--max-doc-chars <n>', help: 'longest document (or SFT record text) accepted; longer is an input error, or a skip counted as tooLong' },
  overwrite: { flags: '--overwrite', help: 'replace existing meap output in --out' },
  dryRun: { flags: '--dry-run', help: 'list the files that would be read and skipped, the masked share per row and what --out would get; read no record, write nothing' },
  template: { flags: '--template <name|file>', help: 'sft prompt template: alpaca, llama3, or a FILE.json' },
  minAnswerTokens: { flags: '--min-answer-tokens <n>', help: 'sft: duplicate and mask examples whose answer has more tokens than this' },
  sftLayout: { flags: '--sft-layout <layout>', help: 'sft: original and masked copy in one row (concat, as the paper) or two rows (separate, as its code)' },
  pack: { flags: '--pack', help: 'sft: pack examples into --seq-len rows by best-fit decreasing (position_ids restart per example)' },
};

const PREPARE_FLAGS: Flags = { ...PREPARE_ONLY_FLAGS, ...PIPELINE_FLAGS };

/** A bad record stops the run; say how to skip such records instead. A file that cannot be read is no record. */
function withSkipHint(e: unknown): unknown {
  if (!(e instanceof InputError) || e.reason === 'unreadableFile') return e;
  return new MeapError('input', e.message, {}, 'or pass --on-error skip to skip and count such records');
}

export function registerPrepare(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('prepare')
    .description('tokenize, pack, mask and write Arrow shards + manifest.json')
    .argument('<inputs...>', `input files, directories or globs (${INPUT_EXTENSIONS.join(', ')}), or hf://datasets/ORG/NAME[@REVISION]/GLOB`);
  addOptions(cmd, PREPARE_FIELDS, PREPARE_FLAGS).action(async (inputs: string[], _opts: unknown, command: Command) => {
    const cfg = parseConfig(PrepareConfigSchema, { ...givenOptions(command, PREPARE_FLAGS), inputs }, PREPARE_FLAGS, modeOwning);
    if (cfg.dryRun) {
      const plan = await dryRun(cfg, { hub: hubOptions() });
      process.stdout.write(describeDryRun(plan, cfg));
      // A script may use the dry run as a check: the run it describes would stop at --out.
      if ('refused' in plan.out) ctx.setExitCode(2);
      return;
    }
    const result = await prepare(cfg, { progress: prepareProgress(cfg.progress), signal: ctx.signal, hub: hubOptions(), log: (line) => process.stderr.write(`meap: ${line}\n`), argv: process.argv.slice(2) }).catch(
      (e: unknown) => {
        throw cfg.onError === 'fail' ? withSkipHint(e) : e;
      },
    );
    if (result.alreadyComplete) {
      const m = result.manifest!;
      process.stdout.write(`${cfg.out}: already complete: nothing to do (${count(m.shards.length, 'shard')}, ${count(m.totals.rows, 'row')}; \`meap inspect ${cfg.out}\` shows the summary)\n`);
    } else if (result.manifest !== null) process.stdout.write(summarize(result.manifest, cfg.out));
    else {
      const { index, of } = result.partition;
      process.stdout.write(
        `${cfg.out}: partition ${index} of ${of} done (${result.unitsDone} of ${count(result.unitsTotal, 'input file')}); run \`meap merge ${cfg.out}\` once all ${of} partitions have finished\n`,
      );
    }
  });
}
