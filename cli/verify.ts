/**
 * `meap verify DIR`: every shard re-hashed and re-counted against the manifest; exit 1 on any problem.
 *
 * No unit test: test/e2e/prepare.test.ts runs `meap verify` through the CLI on good output and on
 * a flipped byte, a truncated or missing shard and an edited count.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { verify } from '../pipeline/verify.ts';
import type { CliContext } from './context.ts';
import { count } from './output.ts';

export function registerVerify(program: Command, ctx: CliContext): void {
  program
    .command('verify')
    .description('re-hash every shard and check its schema and counts against the manifest (exit 1 on any failure)')
    .argument('<dir>', 'a meap output directory')
    .action(async (dir: string) => {
      const { manifest: m, problems, hfCacheFiles } = await verify(dir);
      if (hfCacheFiles.length > 0) {
        process.stderr.write(`meap verify: ${dir}: ${count(hfCacheFiles.length, 'Hugging Face datasets cache file')} (${hfCacheFiles.slice(0, 2).join(', ')}${hfCacheFiles.length > 2 ? ', …' : ''}), written by map/filter/shuffle, ignored: not part of the dataset\n`);
      }
      if (problems.length === 0) {
        process.stdout.write(`${dir}: OK, ${count(m.shards.length, 'shard')}, ${count(m.totals.rows, 'row')}, ${count(m.totals.tokens, 'token')} verified\n`);
        return;
      }
      process.stdout.write(`${problems.map((p) => `${path.join(dir, p.file)}: ${p.problem}`).join('\n')}\n${dir}: FAILED, ${count(problems.length, 'problem')}\n`);
      ctx.setExitCode(1);
    });
}
