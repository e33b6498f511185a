/**
 * `meap eval`: mean loss and perplexity of a run's latest checkpoint on held-out shards.
 *
 * No unit test: it needs a trained run, which test/e2e/train.test.ts makes and then evaluates
 * through the CLI (`meap eval --json`); its options' defaults are checked in test/cli/options.test.ts.
 */
import type { Command } from 'commander';
import { EvalConfigSchema } from '../schemas/train.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { count, evalProgress, n } from './output.ts';

const FLAGS: Flags = {
  run: { flags: '--run <dir>', help: 'a run directory' },
  data: { flags: '--data <dir>', help: 'a meap output directory (repeatable)' },
  batchRows: { flags: '--batch-rows <n>', help: 'rows per forward pass' },
  maxRows: { flags: '--max-rows <n>', help: 'evaluate the first N rows only, in manifest order (default: every row)' },
  backend: { flags: '--backend <name>', help: 'TensorFlow.js backend' },
  json: { flags: '--json', help: 'machine-readable output' },
};

export function registerEval(program: Command): void {
  const cmd = program.command('eval').description("mean loss and perplexity of a run's latest checkpoint on held-out shards (prepare them with --mask none)");
  addOptions(cmd, EvalConfigSchema.shape, FLAGS).action(async (_opts: unknown, command: Command) => {
    const cfg = parseConfig(EvalConfigSchema, givenOptions(command, FLAGS), FLAGS);
    const { evaluate } = await import('../trainer/eval.ts');
    const r = await evaluate(cfg, { log: (line) => process.stderr.write(`meap eval: ${line}\n`), progress: evalProgress('auto') });
    const rows = r.rows < r.dataRows ? `the first ${n(r.rows)} of ${count(r.dataRows, 'row')} (--max-rows)` : count(r.rows, 'row');
    process.stdout.write(
      cfg.json
        ? `${JSON.stringify(r)}\n`
        : `${cfg.run} (step ${r.step}) on ${cfg.data.join(', ')}: mean loss ${r.meanLoss.toFixed(4)}, perplexity ${r.perplexity.toFixed(2)} over ${count(r.targets, 'target')} in ${rows}\n`,
    );
  });
}
