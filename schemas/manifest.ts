/** `manifest.json`: what a finished `meap prepare` directory holds, and how it was made. */
import { z } from 'zod';
import { MASK_STRATEGIES, SFT_LAYOUTS, SFT_MASK_STRATEGY } from './enums.ts';
import { Count, RelativePath, Sha256 } from './primitives.ts';
import { RunSettingsSchema, SftPackingSchema, TokenizerInfoSchema } from './settings.ts';

export const SkipCounts = z.record(z.string(), Count);

export const MaskingSchema = z.object({
  strategy: z.enum(MASK_STRATEGIES),
  ratio: z.number().min(0).max(1),
  spanLength: z.number().int().positive().nullable(),
});

export const SftMaskingSchema = z.object({
  strategy: z.literal(SFT_MASK_STRATEGY),
  ratio: z.number().min(0).max(1),
  minAnswerTokens: Count,
  layout: z.enum(SFT_LAYOUTS),
});

export const ShardEntrySchema = z.object({
  file: RelativePath,
  input: RelativePath,
  rows: Count,
  tokens: Count,
  maskedTokens: Count,
  sha256: Sha256,
});

/**
 * How the shards are stored. Version 1 manifests predate the field: their shards are Arrow IPC files.
 * Version 2 writes the stream format, the only one Hugging Face `datasets` and `pa.ipc.open_stream` read.
 */
export const SHARD_FORMATS = ['arrow-ipc-file', 'arrow-ipc-stream'] as const;
export type ShardFormat = (typeof SHARD_FORMATS)[number];

const common = {
  format: z.literal('meap-shards'),
  version: z.union([z.literal(1), z.literal(2)]),
  shardFormat: z.enum(SHARD_FORMATS).optional(),
  seqLen: z.number().int().positive(),
  seed: Count,
  tokenizer: TokenizerInfoSchema,
  /** Every setting that decides the bytes, so a rerun can tell "same command" from "different command". */
  settings: RunSettingsSchema.optional(),
  shards: z.array(ShardEntrySchema),
};
/**
 * One line each for a run that gave less than it was asked for (a masked share under --mask-ratio).
 * Absent when there is none, so the manifests of such runs keep their bytes.
 */
const warnings = z.array(z.string()).optional();
const inputCommon = { path: RelativePath, sha256: Sha256, records: Count };
const totalsCommon = { rows: Count, tokens: Count, maskedTokens: Count };

export const PretrainManifestSchema = z.object({
  ...common,
  mode: z.literal('pretrain'),
  masking: MaskingSchema,
  document: z.object({ bos: z.boolean(), eos: z.boolean(), textField: z.string(), excludeSets: z.array(z.string()) }),
  inputs: z.array(z.object({ ...inputCommon, documents: Count, skipped: SkipCounts })),
  totals: z.object({ ...totalsCommon, documents: Count, skipped: SkipCounts }),
  warnings,
});

export const SftManifestSchema = z.object({
  ...common,
  mode: z.literal('sft'),
  masking: SftMaskingSchema,
  sft: z.object({ template: z.string(), templateSha256: Sha256.nullable(), pack: SftPackingSchema, bos: z.boolean(), eos: z.boolean() }),
  inputs: z.array(z.object({ ...inputCommon, examples: Count, skipped: SkipCounts })),
  totals: z.object({
    ...totalsCommon,
    examples: Count,
    duplicated: Count,
    ntpOnly: Count,
    truncated: Count,
    layoutFallbacks: Count,
    skipped: SkipCounts,
  }),
  warnings,
});

export const ManifestSchema = z.discriminatedUnion('mode', [PretrainManifestSchema, SftManifestSchema]).superRefine((m, ctx) => {
  if (m.version === 2 && m.shardFormat === undefined) {
    ctx.addIssue({ code: 'custom', path: ['shardFormat'], message: 'a version 2 manifest names the format of its shards' });
  }
  if (m.version === 1 && m.shardFormat !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['shardFormat'], message: 'a version 1 manifest has no shardFormat: its shards are Arrow IPC files' });
  }
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type PretrainManifest = z.infer<typeof PretrainManifestSchema>;
export type SftManifest = z.infer<typeof SftManifestSchema>;
export type ShardEntry = z.infer<typeof ShardEntrySchema>;
export type PretrainInput = PretrainManifest['inputs'][number];
export type SftInput = SftManifest['inputs'][number];
export type Masking = z.infer<typeof MaskingSchema>;

