/**
 * `meap download REPO_ID`: mirror files of a Hugging Face hub repository.
 *
 * No unit test: the command is wiring, run end to end against a fake hub in
 * test/e2e/hub-cli.test.ts; its options' defaults are checked in test/cli/options.test.ts.
 */
import type { Command } from 'commander';
import { download } from '../datasets/hub/download.ts';
import { repoRef } from '../datasets/hub/uri.ts';
import { DownloadConfigSchema } from '../schemas/download.ts';
import { hubOptions } from './context.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';

const FLAGS: Flags = {
  repoType: { flags: '--repo-type <type>', help: 'repository type' },
  revision: { flags: '--revision <rev>', help: 'branch, tag or commit' },
  include: { flags: '--include <glob>', help: 'only files whose repo path matches (repeatable; default: all files)', hideDefault: true },
  out: { flags: '--out <dir>', help: 'mirror into DIR, keeping each repo path (default: the cache, $MEAP_CACHE or ~/.cache/meap)' },
  concurrency: { flags: '--concurrency <n>', help: 'files downloaded at once' },
  maxRetries: { flags: '--max-retries <n>', help: 'retries per request on connection errors, 5xx and 429' },
};

export function registerDownload(program: Command): void {
  const cmd = program
    .command('download')
    .description('mirror files of a Hugging Face hub repository (resumable, sha256-verified)')
    .argument('<repo-id>', 'ORG/NAME, e.g. cerebras/SlimPajama-627B');
  addOptions(cmd, DownloadConfigSchema.shape, FLAGS).action(async (repoId: string, _opts: unknown, command: Command) => {
    const cfg = parseConfig(DownloadConfigSchema, { ...givenOptions(command, FLAGS), repoId }, FLAGS);
    const ref = repoRef(cfg.repoType, cfg.repoId, cfg.revision);
    const got = await download(ref, {
      ...hubOptions(),
      include: cfg.include.length > 0 ? cfg.include : undefined,
      out: cfg.out,
      concurrency: cfg.concurrency,
      maxRetries: cfg.maxRetries,
    });
    process.stdout.write(`${cfg.repoId}@${got.sha}: ${got.files.length} files\n${got.files.map((f) => `  ${f.local}`).join('\n')}\n`);
  });
}
