/** `meap inspect`: one row of a finished directory, decoded. Covered by test/e2e/prepare.test.ts, through the CLI. */
import { z } from 'zod';

export const InspectConfigSchema = z.strictObject({
  dir: z.string().min(1),
  /** 0-based, across shards in manifest order. */
  row: z.number().int().min(0).default(0),
  /** Decode with this tokenizer.json rather than the cached copy of the manifest's. */
  tokenizer: z.string().min(1).optional(),
  json: z.boolean().default(false),
});
export type InspectConfig = z.output<typeof InspectConfigSchema>;
