/**
 * `meap order`: the global row index of every row `meap train` reads, in its order, one per line, so
 * that another trainer can read the same rows in the same order (`Dataset.select(order)` in Hugging
 * Face `datasets`) and be compared with a meap run step by step.
 *
 * No unit test of its own: test/trainer/data.test.ts holds trainingOrder equal to the Loader, and
 * test/interop/test_readme.py runs the README's snippet that reads this command's output.
 */
import type { Command } from 'commander';
import { OrderConfigSchema } from '../schemas/train.ts';
import { openDatasets, trainingOrder } from '../trainer/data.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';

const FLAGS: Flags = {
  data: { flags: '--data <dir>', help: 'a meap output directory (repeatable, in the order given to meap train); rows are numbered across them' },
  seed: { flags: '--seed <int>', help: "meap train's --seed" },
  epochs: { flags: '--epochs <n>', help: 'epochs to list, one after the other' },
};

// Lines are written in blocks, waiting for the pipe to drain, so a corpus of any size streams out.
const BLOCK = 1 << 16;

export function registerOrder(program: Command): void {
  const cmd = program
    .command('order')
    .description('print the global row index (directories in order, rows in manifest order) of every row meap train reads, in its order, one per line');
  addOptions(cmd, OrderConfigSchema.shape, FLAGS).action(async (_opts: unknown, command: Command) => {
    const cfg = parseConfig(OrderConfigSchema, givenOptions(command, FLAGS), FLAGS);
    const ds = await openDatasets(cfg.data);
    let lines: string[] = [];
    const flush = async () => {
      if (!process.stdout.write(`${lines.join('\n')}\n`)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      lines = [];
    };
    for (const i of trainingOrder(ds, cfg.seed, cfg.epochs)) {
      lines.push(String(i));
      if (lines.length === BLOCK) await flush();
    }
    if (lines.length > 0) await flush();
  });
}
