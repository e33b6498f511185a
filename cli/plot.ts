/**
 * `meap plot RUN_DIR`: loss.svg redrawn from metrics.jsonl.
 *
 * No unit test: test/e2e/train.test.ts runs `meap plot` on a trained run through the CLI; the
 * drawing is test/trainer/plot.test.ts's and the reading test/trainer/metrics.test.ts's.
 */
import type { Command } from 'commander';
import { MeapError } from '../core/errors.ts';
import { readMetrics } from '../trainer/metrics.ts';
import { writeLossSvg } from '../trainer/plot.ts';

export function registerPlot(program: Command): void {
  program
    .command('plot')
    .description('redraw RUN_DIR/loss.svg from RUN_DIR/metrics.jsonl')
    .argument('<run>', 'a run directory')
    .action(async (run: string) => {
      const history = await readMetrics(run);
      if (history.length === 0) throw new MeapError('usage', 'no metrics.jsonl with any step in the run directory', { file: run });
      process.stdout.write(`${await writeLossSvg(run, history)}\n`);
    });
}
