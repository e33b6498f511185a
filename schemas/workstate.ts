/**
 * The work state of an unfinished `prepare`, under DIR/.meap/ (see pipeline/workstate/). Covered by
 * test/e2e/resume.test.ts, which interrupts runs and resumes them from this state.
 */
import { z } from 'zod';
import { ShardEntrySchema, SkipCounts } from './manifest.ts';
import { Count } from './primitives.ts';
import { RunSettingsSchema } from './settings.ts';

/**
 * How the run was started, for `meap status` and the refusals of an unfinished directory to print
 * the command that finishes it: the paths in `argv` are relative to `cwd`, and `partitions` is the
 * N its input files are split by. Not a setting: another spelling of the same command resumes.
 * Absent from the run files of an older meap.
 */
export const RunCommandSchema = z.object({ cwd: z.string(), argv: z.array(z.string()), partitions: z.number().int().positive() });
export type RunCommand = z.infer<typeof RunCommandSchema>;

/** `.meap/run.json`: the run's settings and its whole input list, so `merge` needs no arguments. */
export const RunFileSchema = z.object({ settings: RunSettingsSchema, inputs: z.array(z.string()), command: RunCommandSchema.optional() });
export type RunFile = z.infer<typeof RunFileSchema>;

/** `.meap/done/<unit>.json`: one finished input file, written only once its shards are durable. */
export const UnitResultSchema = z.object({
  path: z.string(),
  sha256: z.string(),
  read: z.object({
    records: z.number(),
    items: z.number(),
    skipped: SkipCounts,
    /** Records by `meta.redpajama_set_name`, counted under --exclude-set only: a set none matched is refused at merge. */
    sets: z.record(z.string(), Count).optional(),
  }),
  shards: z.array(ShardEntrySchema),
  counts: z.record(z.string(), z.number()),
  skipped: SkipCounts,
});
export type UnitResult = z.infer<typeof UnitResultSchema>;
