/**
 * The program: its commands (one file each), signal handling, and the one place where errors become
 * exit codes and one-line messages.
 * Exit codes (the README's table): 0 success, 1 damaged output (a verification failure, or a shard or
 * manifest that does not match itself), 2 bad input/option/usage (a full disk, a path the OS refuses),
 * 130/143 SIGINT/SIGTERM, 70 a bug.
 *
 * No unit test: every exit path is a process's, so the e2e tests run them through the real CLI:
 * test/e2e/readme-walk.test.ts walks the README's commands and every code of its exit-code table;
 * test/e2e/prepare.test.ts and resume.test.ts cover the rest (a full disk, kills), and
 * test/e2e/clear-errors.test.ts commander's parse errors and the paths the OS refuses.
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { MeapError, pathRefusal } from '../core/errors.ts';
import type { CliContext } from './context.ts';
import { registerDemo } from './demo.ts';
import { registerDownload } from './download.ts';
import { registerEval } from './eval.ts';
import { registerExport } from './export.ts';
import { registerInspect } from './inspect.ts';
import { registerMerge } from './merge.ts';
import { registerOrder } from './order.ts';
import { registerPlot } from './plot.ts';
import { registerPrepare } from './prepare.ts';
import { registerStatus } from './status.ts';
import { registerTrain } from './train.ts';
import { registerVerify } from './verify.ts';

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

export async function main(argv: string[]): Promise<number> {
  const program = new Command('meap')
    .description('Reproducible MEAP-masked training shards from raw text corpora')
    .version(version, '-V, --version', 'print the version of meap')
    .option('--debug', 'print stack traces of internal errors', false)
    .exitOverride()
    // Commander's own two-line errors become `report`'s one line, which names the command's --help.
    .configureOutput({ outputError: () => {} });
  let usage = 'meap';
  program.hook('preSubcommand', (_program, sub) => {
    usage = `meap ${sub.name()}`;
  });
  let result = 0;
  // What a stop leaves behind is the command's to say; prepare's is the default.
  let interruptNote = 'partial output was not published (no manifest.json was written); rerun the same command to resume';
  const controller = new AbortController();
  const ctx: CliContext = { signal: controller.signal, setExitCode: (code) => (result = code), setInterruptNote: (note) => (interruptNote = note) };

  registerPrepare(program, ctx);
  registerDemo(program, ctx);
  registerDownload(program);
  registerMerge(program);
  registerInspect(program);
  registerStatus(program);
  registerVerify(program, ctx);
  registerTrain(program, ctx);
  registerPlot(program);
  registerEval(program);
  registerExport(program);
  registerOrder(program);

  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(SIGNAL_EXIT[signal]);
    controller.abort(new Interrupted(signal));
    // Work in flight (a tokenizer batch) may not notice at once; never take more than ~1.5 s to stop.
    setTimeout(() => {
      process.stderr.write(`meap: ${new Interrupted(signal).message}; ${interruptNote}\n`);
      process.exit(SIGNAL_EXIT[signal]);
    }, 1500).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await program.parseAsync(argv);
    return result;
  } catch (e) {
    return report(e, program.opts().debug === true || argv.includes('--debug'), interruptNote, usage);
  }
}

function report(e: unknown, debug: boolean, interruptNote: string, usage: string): number {
  if (e instanceof CommanderError) {
    if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    // `meap` without a command: commander printed the help text.
    if (e.code === 'commander.help') return 2;
    // "error: unknown option '--ot'\n(Did you mean --out?)" → "unknown option '--ot' (did you mean --out?)"
    const what = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace('(Did you mean', '(did you mean').replace(/\.$/, '');
    process.stderr.write(`meap: error: ${what} (run ${usage} --help for usage)\n`);
    return 2;
  }
  if (e instanceof Interrupted) {
    process.stderr.write(`meap: ${e.message}; ${interruptNote}\n`);
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
  const refused = pathRefusal(e);
  if (refused !== null) {
    process.stderr.write(`meap: error: ${refused.message}\n`);
    return refused.exitCode;
  }
  if (debug) process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
  process.stderr.write(`meap: internal error: ${(e as Error)?.message ?? e}${debug ? '' : ' (rerun with --debug for details)'}\n`);
  return 70;
}
