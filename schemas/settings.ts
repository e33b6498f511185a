/**
 * The settings that decide a `prepare` output's bytes. They are kept in the work state while a run is
 * unfinished and in the manifest after, so a rerun can tell "the same command" from "a different one".
 * `--workers`, `--engine` and `--progress` are not among them: they never change a byte.
 *
 * Covered by test/schemas/manifest.test.ts (the manifest's `settings`) and test/e2e/resume.test.ts
 * (a rerun with other settings is refused).
 */
import { z } from 'zod';
import { FORMATS, MASK_STRATEGIES, MODES, ON_ERROR, SFT_LAYOUTS, SFT_MASK_STRATEGY } from './enums.ts';
import { Count, Sha256 } from './primitives.ts';

export const TokenizerInfoSchema = z.object({
  sha256: Sha256,
  vocabSize: z.number().int().positive(),
  maskTokenId: Count,
  bosId: Count.nullable(),
  eosId: Count.nullable(),
});
export type TokenizerInfo = z.infer<typeof TokenizerInfoSchema>;

/** One flat shape for both modes, in a fixed key order; the other mode's keys are null. */
export const RunSettingsSchema = z.object({
  mode: z.enum(MODES),
  format: z.enum(FORMATS).nullable(),
  textField: z.string(),
  excludeSets: z.array(z.string()),
  limit: Count.nullable(),
  bos: z.boolean(),
  eos: z.boolean(),
  seqLen: Count,
  mask: z.enum([...MASK_STRATEGIES, SFT_MASK_STRATEGY]),
  maskRatio: z.number().min(0).max(1),
  spanLength: Count.nullable(),
  seed: Count,
  shardRows: Count,
  onError: z.enum(ON_ERROR),
  maxDocChars: Count,
  template: z.string().nullable(),
  templateSha256: Sha256.nullable(),
  minAnswerTokens: Count.nullable(),
  sftLayout: z.enum(SFT_LAYOUTS).nullable(),
  pack: z.boolean().nullable(),
  tokenizer: TokenizerInfoSchema,
});
export type RunSettings = z.infer<typeof RunSettingsSchema>;
