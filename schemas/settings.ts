/**
 * The settings that decide a `prepare` output's bytes. They are kept in the work state while a run is
 * unfinished and in the manifest after, so a rerun can tell "the same command" from "a different one".
 * `--workers`, `--engine` and `--progress` are not among them: they never change a byte.
 *
 * Covered by test/schemas/manifest.test.ts (the manifest's `settings`) and test/e2e/resume.test.ts
 * (a rerun with other settings is refused).
 */
import { z } from 'zod';
import { FORMATS, MASK_STRATEGIES, ON_ERROR, SFT_LAYOUTS, SFT_MASK_STRATEGY, SFT_PACK_ALGORITHM } from './enums.ts';
import { Count, Sha256 } from './primitives.ts';

export const TokenizerInfoSchema = z.object({
  sha256: Sha256,
  vocabSize: z.number().int().positive(),
  maskTokenId: Count,
  bosId: Count.nullable(),
  eosId: Count.nullable(),
});
export type TokenizerInfo = z.infer<typeof TokenizerInfoSchema>;

/**
 * SFT's `--pack`: off, or the algorithm and its window of examples (in rows' worth of tokens). `true`
 * is what meap wrote before best-fit packing, for rows filled greedily in input order: it is read, so
 * such a directory still verifies and trains, and never written, so resuming it is refused.
 */
export const SftPackingSchema = z.union([
  z.literal(false),
  z.literal(true),
  z.object({ algorithm: z.literal(SFT_PACK_ALGORITHM), windowRows: z.number().int().positive() }),
]);
export type SftPacking = z.infer<typeof SftPackingSchema>;

// Runs of keys both modes share, spread where they stand in the key order below.
const format = z.enum(FORMATS).nullable();
const framing = { limit: Count.nullable(), bos: z.boolean(), eos: z.boolean(), seqLen: Count };
const maskRatio = z.number().min(0).max(1);
const run = { seed: Count, shardRows: Count, onError: z.enum(ON_ERROR), maxDocChars: Count };

/**
 * A union on `mode`, as the prepare config is; both shapes have every key in one fixed order (the
 * order of the manifest's and the work state's bytes), the other mode's keys null.
 */
export const RunSettingsSchema = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('pretrain'),
    format,
    textField: z.string(),
    excludeSets: z.array(z.string()),
    ...framing,
    mask: z.enum(MASK_STRATEGIES),
    maskRatio,
    spanLength: Count.nullable(),
    ...run,
    template: z.null(),
    templateSha256: z.null(),
    minAnswerTokens: z.null(),
    sftLayout: z.null(),
    pack: z.null(),
    tokenizer: TokenizerInfoSchema,
  }),
  z.object({
    mode: z.literal('sft'),
    format,
    // SFT reads neither: --text-field's default and no --exclude-set are recorded.
    textField: z.string(),
    excludeSets: z.array(z.string()),
    ...framing,
    mask: z.literal(SFT_MASK_STRATEGY),
    maskRatio,
    spanLength: z.null(),
    ...run,
    template: z.string(),
    templateSha256: Sha256.nullable(),
    minAnswerTokens: Count,
    sftLayout: z.enum(SFT_LAYOUTS),
    pack: SftPackingSchema,
    tokenizer: TokenizerInfoSchema,
  }),
]);
export type RunSettings = z.infer<typeof RunSettingsSchema>;
export type PretrainSettings = Extract<RunSettings, { mode: 'pretrain' }>;
export type SftSettings = Extract<RunSettings, { mode: 'sft' }>;
