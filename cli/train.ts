/**
 * `meap train`: a Llama-style model trained with TensorFlow.js directly on meap shards.
 *
 * No unit test: test/e2e/train.test.ts runs `meap train` through the CLI (a falling loss, resume
 * after SIGKILL, refusals); its options' defaults are checked in test/cli/options.test.ts.
 */
import type { Command } from 'commander';
import { meapCommand } from '../core/shell.ts';
import { DEFAULT_MODEL, PRESETS, TrainConfigSchema } from '../schemas/train.ts';
import type { CliContext } from './context.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { count, trainProgress } from './output.ts';

const FLAGS: Flags = {
  data: { flags: '--data <dir>', help: 'a meap output directory (repeatable)' },
  out: { flags: '--out <dir>', help: 'run directory: checkpoints/, metrics.jsonl, loss.svg' },
  model: {
    flags: '--model <preset|file>',
    help: `model: ${Object.keys(PRESETS).join(', ')}, or FILE.json {layers, hidden, intermediate, heads, kvHeads, ropeBase, normEps}`,
    defaultHelp: `${DEFAULT_MODEL}, or with --init the checkpoint's shape`,
  },
  init: { flags: '--init <dir>', help: 'start from a Hugging Face Llama checkpoint (config.json, model.safetensors or its index); the embedding gains its [MASK] row where it lacks one' },
  steps: { flags: '--steps <n>', help: 'optimizer steps (0: write the step-0 checkpoint of the initial weights)' },
  batchSize: { flags: '--batch-size <n>', help: 'rows per optimizer step' },
  microBatch: { flags: '--micro-batch <n>', help: 'rows per forward/backward pass; gradients accumulate up to --batch-size (default: --batch-size)' },
  lr: { flags: '--lr <x>', help: 'peak learning rate' },
  minLr: { flags: '--min-lr <x>', help: 'learning rate at the end of the cosine decay' },
  warmup: { flags: '--warmup <fraction>', help: 'fraction of steps with linear warm-up' },
  weightDecay: { flags: '--weight-decay <x>', help: 'decoupled AdamW weight decay (not on norms)' },
  beta1: { flags: '--beta1 <x>', help: 'AdamW beta1' },
  beta2: { flags: '--beta2 <x>', help: 'AdamW beta2' },
  clip: { flags: '--clip <x>', help: 'global gradient-norm clipping (0: off)' },
  seed: { flags: '--seed <int>', help: 'initialisation and data-order seed' },
  backend: { flags: '--backend <name>', help: 'TensorFlow.js backend (auto: the first that loads of gpu, webgpu on a hardware adapter, node, wasm, cpu)' },
  precision: { flags: '--precision <p>', help: 'WebGPU engine matmuls: f32, or mixed (f16 inputs, f32 accumulation and master weights)' },
  checkpointEvery: { flags: '--checkpoint-every <k>', help: 'steps between checkpoints' },
  keepLast: { flags: '--keep-last <n>', help: 'checkpoints to keep' },
  resume: { flags: '--resume', help: 'continue from the latest complete checkpoint in --out: --steps may change, the model, data, schedule and optimizer options may not' },
  overwrite: { flags: '--overwrite', help: 'replace the run in --out (never files that meap train did not write)' },
  progress: { flags: '--progress <mode>', help: 'progress display' },
};

/** The command line that continues this run, quoted for a POSIX shell: --overwrite would start it over. */
const resumeCommand = (args: string[]) => meapCommand([...args.filter((a) => a !== '--overwrite'), ...(args.includes('--resume') ? [] : ['--resume'])]);

export function registerTrain(program: Command, ctx: CliContext): void {
  const cmd = program.command('train').description('train a Llama-style model with TensorFlow.js directly on meap shards (pre-training or SFT)');
  addOptions(cmd, TrainConfigSchema.shape, FLAGS).action(async (_opts: unknown, command: Command) => {
    const cfg = parseConfig(TrainConfigSchema, givenOptions(command, FLAGS), FLAGS);
    const resume = resumeCommand(process.argv.slice(2));
    ctx.setInterruptNote(cfg.resume ? `nothing newer than the checkpoint it resumed from was saved; continue with: ${resume}` : 'no checkpoint was saved yet; run the command again to start over');
    // TensorFlow.js loads only for the commands that need it: it would slow every other start-up.
    const { train } = await import('../trainer/loop.ts');
    const history = await train(cfg, {
      signal: ctx.signal,
      log: (l) => process.stderr.write(`${l}\n`),
      progress: trainProgress(cfg.progress),
      onCheckpoint: (dir) => ctx.setInterruptNote(`saved ${dir}; continue with: ${resume}`),
    });
    const last = history.at(-1);
    process.stdout.write(`${cfg.out}: ${count(history.length, 'step')}${last ? `, last loss ${last.loss.toFixed(4)}` : ''}; metrics.jsonl, loss.svg and checkpoints/ written\n`);
  });
}
