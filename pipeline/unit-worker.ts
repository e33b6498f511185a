/**
 * One thread of the unit pool (see unit-pool.ts): whole input files, each read, tokenized with the
 * bpe engine in this thread, packed, masked, encoded, hashed and written here, exactly as the main
 * thread would. Covered by test/e2e/prepare.test.ts, whose multi-file runs at --workers 2 and more
 * come through here and must give the bytes of --workers 1.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import { toPlainError, type PlainError } from '../core/errors.ts';
import type { InputFile } from '../datasets/types.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import type { UnitResult } from '../schemas/workstate.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { modeOf } from './modes.ts';
import { compileTemplate, type TemplateSource } from './template.ts';
import type { BpeModel } from './tokenize/bpe/bpe-model.ts';
import { bpeEncoder, type Encoder } from './tokenize/encoder.ts';
import type { TokenizerInfo } from './tokenize/load.ts';
import { queueUnit, type Counters, type Mode } from './unit.ts';

export interface UnitPoolData {
  cfg: PrepareConfig;
  tok: TokenizerInfo;
  /** SFT: the template the main thread read, compiled here. */
  template: TemplateSource | null;
  /** The bpe engine's tables, on shared memory. */
  model: BpeModel;
  /** Threads in the pool, which share a memory budget. */
  threads: number;
}

export interface UnitTask {
  file: InputFile;
  /** Receives Counters increments as the unit goes. */
  progress: MessagePort;
}

export type UnitOutcome = { ok: true; unit: UnitResult } | { ok: false; error: PlainError };

const { cfg, tok, template, model, threads } = workerData as UnitPoolData;

let ready: { mode: Mode<unknown>; encoder: Encoder } | null = null;
function setUp(): { mode: Mode<unknown>; encoder: Encoder } {
  return { mode: modeOf(cfg, tok, template === null ? null : compileTemplate(template, tok)), encoder: bpeEncoder(model, threads) };
}

export default async function runUnit({ file, progress }: UnitTask): Promise<UnitOutcome> {
  const counters: Counters = { items: 0, tokens: 0, bytesRead: 0 };
  const sent: Counters = { ...counters };
  const report = () => {
    progress.postMessage({ items: counters.items - sent.items, tokens: counters.tokens - sent.tokens, bytesRead: counters.bytesRead - sent.bytesRead });
    Object.assign(sent, counters);
  };
  try {
    ready ??= setUp();
    const { mode, encoder } = ready;
    const queue = new OrderedQueue(1);
    let unit: UnitResult | null = null;
    const ctx = {
      progress: { start() {}, fileDone() {}, update: report, stop() {} },
      // The pool stops a unit by ending its thread.
      signal: new AbortController().signal,
    };
    await queueUnit(file, cfg, mode, encoder, queue, ctx, counters, async (u) => {
      unit = u;
    });
    await queue.drain();
    report();
    return { ok: true, unit: unit! };
  } catch (e) {
    return { ok: false, error: toPlainError(e) };
  } finally {
    progress.close();
  }
}
