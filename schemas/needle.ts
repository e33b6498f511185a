/** A needle of `meap eval --needle --needle-file`: one JSONL line. Covered by test/e2e/needle.test.ts. */
import { z } from 'zod';

export const NeedleSchema = z.strictObject({
  /** The sentence hidden in the context. */
  needle: z.string().min(1),
  /** Follows the context after a blank line; the answer follows it directly. */
  question: z.string().min(1),
  /** Scored: its tokens after the question. */
  answer: z.string().min(1),
});
export type Needle = z.output<typeof NeedleSchema>;
