/**
 * `meap merge DIR`: the final manifest, once every partition of a `prepare` has finished.
 *
 * No unit test: partitions come from separate processes, so test/e2e/resume.test.ts runs
 * `meap merge` through the CLI, early (refused) and once all partitions are done.
 */
import type { Command } from 'commander';
import { merge } from '../pipeline/build-manifest.ts';
import { summarize } from './output.ts';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('write the final manifest.json once every partition of a `prepare` has finished')
    .argument('<dir>', 'the shared output directory')
    .action(async (dir: string) => {
      process.stdout.write(summarize(await merge(dir), dir));
    });
}
