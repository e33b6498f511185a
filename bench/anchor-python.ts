/**
 * What the benches share to run their Python anchors (bench/anchors/) beside meap: the interop
 * environment's Python, or the one line saying why they are skipped; and the median their
 * interleaved repeats are summarised by.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const PYTHON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../.venv/bin/python');

/** The .venv's Python, or null after printing `{"bench": BENCH, "skipped": …}`. */
export function anchorPython(bench: string): string | null {
  if (fs.existsSync(PYTHON)) return PYTHON;
  console.log(JSON.stringify({ bench, skipped: `no ${PYTHON}: \`npm run setup:interop\` creates it` }));
  return null;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
