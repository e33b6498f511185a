/** `meap inspect`: rows of a finished directory, decoded. Tested in test/schemas/inspect.test.ts, and through the CLI in test/e2e/first-hour.test.ts and readme-walk.test.ts. */
import { z } from 'zod';

export const InspectConfigSchema = z.strictObject({
  dir: z.string().min(1),
  /** 0-based, across shards in manifest order. */
  row: z.number().int().min(0).default(0),
  /** `A..B` (both included) or `A..` (to the last row), in place of `row`. */
  rows: z
    .string()
    .regex(/^\d+\.\.\d*$/, 'write A..B (rows A to B) or A.. (row A to the last)')
    .optional(),
  /** At most this many rows, from `row` or the start of `rows`. */
  limit: z.number().int().min(1).optional(),
  /** Decode with this tokenizer.json rather than the cached copy of the manifest's. */
  tokenizer: z.string().min(1).optional(),
  json: z.boolean().default(false),
});
export type InspectConfig = z.output<typeof InspectConfigSchema>;

/** The options as `inspect` reads them: the first row, and the last (null: the directory's last). */
export const InspectArgsSchema = z.preprocess(
  (v, ctx) => {
    const given = v as Record<string, unknown>;
    if (given?.row !== undefined && given.rows !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['row'], message: 'excludes rows', params: { excludes: 'rows' }, input: v });
    }
    return v;
  },
  InspectConfigSchema.transform(({ rows, ...c }) => {
    if (rows === undefined) return { ...c, last: undefined };
    const [a, b] = rows.split('..');
    return { ...c, row: Number(a), last: b === '' ? null : Number(b) };
  }),
);
