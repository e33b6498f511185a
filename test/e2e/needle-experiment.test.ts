/**
 * `npm run experiment:needle` end to end at a toy scale (2 seeds, 3 steps): every command it runs
 * succeeds, and it writes the table, the raw numbers and the side-by-side heatmaps for both arms.
 * The README's numbers come from the full run; this keeps the script from rotting.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot, tempDir } from '../helpers/cli.ts';

it('runs both arms for every seed and reports them paired', () => {
  const out = path.join(tempDir(), 'exp');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/needle-experiment.ts'), '--out', out, '--seeds', '2', '--steps', '3'], {
    encoding: 'utf8',
    env: { ...process.env, MEAP_CACHE: tempDir('meap-cache-') },
  });
  expect(r.status, r.stderr).toBe(0);
  const result = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { runs: { arm: string; seed: number; cells: unknown[]; heldOutLoss: number }[] };
  expect(result.runs.map((x) => `${x.arm}-${x.seed}`)).toEqual(['NTP-0', 'MEAP-0', 'NTP-1', 'MEAP-1']);
  for (const run of result.runs) {
    expect(run.cells).toHaveLength(4 * 11);
    expect(run.heldOutLoss).toBeGreaterThan(0);
  }
  const table = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
  expect(r.stdout).toBe(table);
  expect(table).toContain('| needle accuracy, all cells |');
  expect(table).toContain('MEAP − NTP by seed (0, 1)');
  const svg = fs.readFileSync(path.join(out, 'heatmaps.svg'), 'utf8');
  expect(svg).toContain('NTP: mean of 2 seeds');
  expect(svg).toContain('MEAP: mean of 2 seeds');
});
