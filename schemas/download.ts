/** `meap download`: mirror files of a Hugging Face hub repository. Covered by test/e2e/hub-cli.test.ts, through the CLI. */
import { z } from 'zod';
import { REPO_TYPES } from './enums.ts';

export const DownloadConfigSchema = z.strictObject({
  repoId: z.string().min(1),
  repoType: z.enum(REPO_TYPES).default('dataset'),
  revision: z.string().min(1).default('main'),
  /** Repo-path globs; none means every file. */
  include: z.array(z.string()).default([]),
  /** Mirror into this directory, keeping repo paths; by default into the cache. */
  out: z.string().min(1).optional(),
  concurrency: z.number().int().min(1).default(4),
  maxRetries: z.number().int().min(0).default(5),
});
export type DownloadConfig = z.output<typeof DownloadConfigSchema>;
