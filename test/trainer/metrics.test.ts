/**
 * metrics.jsonl: what `meap train` appends each step is what a resume and `meap plot` read back,
 * minus a line a kill cut short and the steps after the checkpoint being resumed from.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS, appendMetrics, readMetrics, rewriteMetrics, type StepMetrics } from '../../trainer/metrics.ts';
import { tempDir } from '../helpers/cli.ts';

const step = (n: number): StepMetrics => ({ step: n, loss: 10 / n, lr: 4e-4 * n, gradNorm: 0.5 + n, tokens: 508, tokensPerSec: 1000 + n });
const file = (dir: string) => path.join(dir, METRICS);

describe('metrics.jsonl', () => {
  it('reads back what was appended, one JSON line per step, in order', async () => {
    const dir = tempDir('meap-metrics-');
    const steps = [1, 2, 3].map(step);
    for (const m of steps) await appendMetrics(dir, m);
    expect(fs.readFileSync(file(dir), 'utf8').split('\n')).toEqual([...steps.map((m) => JSON.stringify(m)), '']);
    expect(await readMetrics(dir)).toEqual(steps);
  });

  it('is empty for a run without the file', async () => {
    expect(await readMetrics(tempDir('meap-metrics-'))).toEqual([]);
  });

  it('skips a line cut mid-write and drops the steps past upTo', async () => {
    const dir = tempDir('meap-metrics-');
    for (const n of [1, 2, 3, 4]) await appendMetrics(dir, step(n));
    const cut = JSON.stringify(step(5)).slice(0, 17);
    fs.appendFileSync(file(dir), cut);
    expect(await readMetrics(dir)).toEqual([1, 2, 3, 4].map(step));
    // The checkpoint was at step 2: steps 3 and 4 are redone after the resume.
    expect(await readMetrics(dir, 2)).toEqual([1, 2].map(step));
    expect(await readMetrics(dir, 0)).toEqual([]);
  });

  it('rewriteMetrics replaces the whole file, leaving no temporary file behind', async () => {
    const dir = tempDir('meap-metrics-');
    for (const n of [1, 2, 3]) await appendMetrics(dir, step(n));
    fs.appendFileSync(file(dir), '{"step": 4, "lo');
    await rewriteMetrics(dir, [step(1)]);
    expect(fs.readFileSync(file(dir), 'utf8')).toBe(`${JSON.stringify(step(1))}\n`);
    expect(fs.readdirSync(dir)).toEqual([METRICS]);
    // Appending after a rewrite continues the same file.
    await appendMetrics(dir, step(2));
    expect(await readMetrics(dir)).toEqual([1, 2].map(step));
    await rewriteMetrics(dir, []);
    expect(fs.readFileSync(file(dir), 'utf8')).toBe('');
  });
});
