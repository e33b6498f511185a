/**
 * DIR/.meap/, the work directory of an unfinished `prepare`: its records, its locks, and the temporary
 * files that output is written through. Gone once the directory is complete.
 *
 * Covered by test/e2e/resume.test.ts (runs killed mid-write resume to the same bytes, and no .meap is
 * left after), and used by the tests of its callers: test/pipeline/shards.test.ts,
 * test/pipeline/outdir.test.ts and test/pipeline/workstate/run-records.test.ts.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { createFileAtomic, writeFileAtomic, type AtomicFile } from '../../core/durable.ts';

export const WORK_DIR = '.meap';

export const workDir = (dir: string) => path.join(dir, WORK_DIR);

/** Durably to OUT/`rel`, through OUT/.meap/tmp: the same file system, so the final rename is atomic. */
export function writeOutputFile(out: string, rel: string, bytes: Uint8Array | string): Promise<void> {
  return writeFileAtomic(path.join(out, path.dirname(rel)), path.basename(rel), bytes, path.join(workDir(out), 'tmp'));
}

/** As writeOutputFile, for a file written in pieces. */
export function createOutputFile(out: string, rel: string): Promise<AtomicFile> {
  return createFileAtomic(path.join(out, path.dirname(rel)), path.basename(rel), path.join(workDir(out), 'tmp'));
}

export async function removeWorkDir(dir: string): Promise<void> {
  await fs.rm(workDir(dir), { recursive: true, force: true });
}
