/**
 * The program: its commands (one file each), signal handling, and the one place where errors become
 * exit codes and one-line messages.
 * Exit codes: 0 success, 1 verification failure, 2 bad input/option/usage, 130/143 SIGINT/SIGTERM.
 *
 * No unit test: every exit path is a process's, so the e2e tests run them through the real CLI:
 * 0, 1 (`meap verify`) and 2 (bad options, an unknown command) in test/e2e/prepare.test.ts;
 * SIGINT → 130 and a full disk in test/e2e/resume.test.ts.
 */
import { Command, CommanderError } from 'commander';
import { MeapError } from '../core/errors.ts';
import type { CliContext } from './context.ts';
import { registerDemo } from './demo.ts';
import { registerDownload } from './download.ts';
import { registerEval } from './eval.ts';
import { registerInspect } from './inspect.ts';
import { registerMerge } from './merge.ts';
import { registerPlot } from './plot.ts';
import { registerPrepare } from './prepare.ts';
import { registerTrain } from './train.ts';
import { registerVerify } from './verify.ts';

class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`stopped by ${signal}`);
  }
}
const SIGNAL_EXIT: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 130, SIGTERM: 143 };

export async function main(argv: string[]): Promise<number> {
  const program = new Command('meap')
    .description('Reproducible MEAP-masked training shards from raw text corpora')
    .option('--debug', 'print stack traces of internal errors', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  let result = 0;
  const controller = new AbortController();
  const ctx: CliContext = { signal: controller.signal, setExitCode: (code) => (result = code) };

  registerPrepare(program, ctx);
  registerDemo(program, ctx);
  registerDownload(program);
  registerMerge(program);
  registerInspect(program);
  registerVerify(program, ctx);
  registerTrain(program, ctx);
  registerPlot(program);
  registerEval(program);

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
