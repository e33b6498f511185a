/** `meap status`: where a `prepare` output directory stands. Tested through the CLI in test/e2e/no-silent-masking.test.ts. */
import { z } from 'zod';

export const StatusConfigSchema = z.strictObject({
  dir: z.string().min(1),
  json: z.boolean().default(false),
});
