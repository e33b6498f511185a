/** A run's `metrics.jsonl`: one line per optimizer step, appended as the run goes and read back on resume. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

export interface StepMetrics {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  tokensPerSec: number;
  /** On a GPU backend: bytes tfjs holds in GPU memory after the step, pooled buffers included. */
  gpuBytes?: number;
}

/** What the loop reports after each step; the CLI draws it. */
export interface TrainProgress {
  start(steps: number, from: number): void;
  update(m: StepMetrics): void;
  stop(): void;
}

export const METRICS = 'metrics.jsonl';
/** Where `rewriteMetrics` writes before it renames: a kill can leave it behind. */
export const METRICS_TMP = `${METRICS}.tmp`;

export async function appendMetrics(runDir: string, m: StepMetrics): Promise<void> {
  await fs.appendFile(path.join(runDir, METRICS), `${JSON.stringify(m)}\n`);
}

/** The history up to `upTo` steps: steps after the last checkpoint were lost with the process and are redone. */
export async function readMetrics(runDir: string, upTo = Infinity): Promise<StepMetrics[]> {
  let text = '';
  try {
    text = await fs.readFile(path.join(runDir, METRICS), 'utf8');
  } catch {
    return [];
  }
  const out: StepMetrics[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const m = JSON.parse(line) as StepMetrics;
      if (m.step <= upTo) out.push(m);
    } catch {
      // A line cut by a kill mid-write: the step it belonged to is redone.
    }
  }
  return out;
}

/** Replaces the file with `history`, atomically: after a resume it must not keep the redone steps twice. */
export async function rewriteMetrics(runDir: string, history: StepMetrics[]): Promise<void> {
  const tmp = path.join(runDir, METRICS_TMP);
  await fs.writeFile(tmp, history.map((m) => `${JSON.stringify(m)}\n`).join(''));
  await fs.rename(tmp, path.join(runDir, METRICS));
}
