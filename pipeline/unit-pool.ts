/**
 * Whole input files on worker threads (unit-worker.ts), as many at once as there are workers. This
 * thread only hands out files, adds up progress and records each finished unit; every unit's bytes
 * are what the main thread would have written, so the output does not depend on --workers.
 * Covered by test/e2e/prepare.test.ts (byte-identical output across worker counts and engines) and
 * test/e2e/resume.test.ts (a killed run resumes to the same bytes).
 */
import { setMaxListeners } from 'node:events';
import { MessageChannel } from 'node:worker_threads';
import { fromPlainError } from '../core/errors.ts';
import { workerPool } from '../core/worker-entry.ts';
import type { InputFile } from '../datasets/types.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import type { UnitResult } from '../schemas/workstate.ts';
import type { BpeModel } from './tokenize/bpe/bpe-model.ts';
import type { TemplateSource } from './template.ts';
import type { LoadedTokenizer } from './tokenize/load.ts';
import type { Counters, RunContext } from './unit.ts';
import type { UnitOutcome, UnitPoolData, UnitTask } from './unit-worker.ts';

/**
 * The young generations of all unit threads together, in MB, each thread's between 4 and 16. A larger
 * young generation collects less often, and the collector's helper threads compete with the unit
 * threads for the cores: on 2 cores, --workers 2 ran 6-11% faster at 16 MB than at 4 (bench/pipeline.ts's
 * cold corpus). At 16 threads, 4 MB each is what keeps the peak RSS under 1 GB (995 MB measured; 1.19 GB
 * at 16 MB).
 */
const YOUNG_GENERATIONS_MB = 64;
const youngGenerationMb = (threads: number) => Math.max(4, Math.min(16, Math.floor(YOUNG_GENERATIONS_MB / threads)));

export async function runUnitsInWorkers(
  files: InputFile[],
  cfg: PrepareConfig,
  tok: LoadedTokenizer,
  template: TemplateSource | null,
  model: BpeModel,
  ctx: RunContext,
  counters: Counters,
  done: (unit: UnitResult) => Promise<void>,
): Promise<void> {
  const threads = Math.min(cfg.workers, files.length);
  // No tokenizer.json: the threads tokenize from the shared tables, and a copy of the JSON would cost
  // each of them some 15 MB.
  const { plainJson: _plain, fullJson: _full, ...info } = tok;
  const data: UnitPoolData = { cfg, tok: info, template, model, threads };
  const pool = await workerPool(new URL('./unit-worker.ts', import.meta.url), threads, data, { maxYoungGenerationSizeMb: youngGenerationMb(threads) });
  // Aborting a running task ends its thread: a unit stopped half way records nothing and is redone on resume.
  const stop = new AbortController();
  // Every queued task listens to it.
  setMaxListeners(files.length + 1, stop.signal);
  const onAbort = () => stop.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Units are recorded one at a time, in the order they finish.
    let recording = Promise.resolve();
    // The first failure stops the other units; their aborts are not what is reported.
    let failure: { error: unknown } | null = null;
    const runs = files.map(async (file) => {
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (d: Counters) => {
        counters.items += d.items;
        counters.tokens += d.tokens;
        counters.bytesRead += d.bytesRead;
        ctx.progress.update(counters);
      });
      const task: UnitTask = { file, progress: port2 };
      try {
        const outcome = (await pool.run(task, { transferList: [port2], signal: stop.signal })) as UnitOutcome;
        if (!outcome.ok) throw fromPlainError(outcome.error);
        recording = recording.then(() => done(outcome.unit));
        await recording;
      } catch (e) {
        if (!stop.signal.aborted) {
          failure = { error: e };
          stop.abort(e);
        }
      } finally {
        port1.close();
      }
    });
    await Promise.all(runs);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (failure !== null) throw (failure as { error: unknown }).error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    await pool.destroy();
  }
}
