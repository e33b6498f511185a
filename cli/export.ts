/**
 * `meap export RUN --out DIR`: a run's checkpoint as a Hugging Face Llama folder (config.json,
 * safetensors, generation_config.json, tokenizer files with [MASK]).
 *
 * No unit test: test/trainer/export.test.ts runs it through the CLI on a trained run (and its
 * refusals); test/interop/test_export.py loads the result with Transformers.
 */
import type { Command } from 'commander';
import { runTokenizer } from '../pipeline/tokenize/tokenizer-copies.ts';
import { ExportConfigSchema } from '../schemas/train.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { count } from './output.ts';

const FLAGS: Flags = {
  out: { flags: '--out <dir>', help: 'the Hugging Face folder to write (must not exist, or be empty)' },
  step: { flags: '--step <n>', help: "the checkpoint's step (default: the latest)" },
  tokenizer: {
    flags: '--tokenizer <path>',
    help: 'the tokenizer.json (or a folder holding one) the shards were prepared with (default: the copy `meap prepare` cached under $MEAP_CACHE, by the sha256 the checkpoint records)',
  },
  maxShardSize: { flags: '--max-shard-size <size>', help: 'past this the weights are split into model-0000i-of-0000N.safetensors with an index, as save_pretrained does' },
};

export function registerExport(program: Command): void {
  const cmd = program
    .command('export')
    .description("write a run's checkpoint as a Hugging Face Llama folder that LlamaForCausalLM and AutoTokenizer load")
    .argument('<run>', 'a `meap train` run directory');
  addOptions(cmd, ExportConfigSchema.shape, FLAGS).action(async (run: string, _opts: unknown, command: Command) => {
    const cfg = parseConfig(ExportConfigSchema, { ...givenOptions(command, FLAGS), run }, FLAGS);
    const { exportRun } = await import('../trainer/export.ts');
    const r = await exportRun(cfg, {
      // loadTokenizer takes a tokenizer.json or its folder, as prepare does.
      tokenizer: (sha256) => runTokenizer(sha256, cfg.tokenizer),
    });
    process.stdout.write(
      `${r.out}: LlamaForCausalLM from ${run} (step ${r.step}): ${count(r.tensors, 'tensor')}, ${r.parameters.toLocaleString('en-US')} parameters in ${r.weightFiles.length === 1 ? r.weightFiles[0] : `${r.weightFiles.length} files with model.safetensors.index.json`}; config.json, generation_config.json and the tokenizer files written\n`,
    );
  });
}
