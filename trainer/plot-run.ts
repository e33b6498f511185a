/** `meap plot RUN_DIR`: redraws loss.svg from the run's metrics. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError } from '../pipeline/errors.ts';
import { lossSvg } from './plot.ts';
import { LOSS_SVG, readMetrics } from './train.ts';

export async function plotRun(run: string): Promise<string> {
  const history = await readMetrics(run);
  if (history.length === 0) throw new MeapError('usage', 'no metrics.jsonl with any step in the run directory', { file: run });
  const file = path.join(run, LOSS_SVG);
  await fs.writeFile(file, lossSvg(history, `meap train (${history.length} steps)`));
  return file;
}
