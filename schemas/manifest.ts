import { z } from 'zod';

/** Relative POSIX path that stays inside the directory: no absolute paths, no `..`. */
export const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.split(/[\\/]/).includes('..'), {
    message: 'must be a relative path inside the directory (no leading /, no ..)',
  });

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const Count = z.number().int().nonnegative();

export const SkipCounts = z.record(z.string(), Count);

export const MaskingSchema = z.object({
  strategy: z.enum(['random', 'span', 'none']),
  ratio: z.number().min(0).max(1),
  spanLength: z.number().int().positive().nullable(),
});

export const TokenizerInfoSchema = z.object({
  sha256: Sha256,
  vocabSize: z.number().int().positive(),
  maskTokenId: Count,
  bosId: Count.nullable(),
  eosId: Count.nullable(),
});

export const InputEntrySchema = z.object({
  path: RelativePath,
  sha256: Sha256,
  records: Count,
  documents: Count,
  skipped: SkipCounts,
});

export const ShardEntrySchema = z.object({
  file: RelativePath,
  input: RelativePath,
  rows: Count,
  tokens: Count,
  maskedTokens: Count,
  sha256: Sha256,
});

export const TotalsSchema = z.object({
  rows: Count,
  tokens: Count,
  maskedTokens: Count,
  documents: Count,
  skipped: SkipCounts,
});

export const ManifestSchema = z.object({
  format: z.literal('meap-shards'),
  version: z.literal(1),
  mode: z.literal('pretrain'),
  seqLen: z.number().int().positive(),
  seed: Count,
  masking: MaskingSchema,
  tokenizer: TokenizerInfoSchema,
  document: z.object({ bos: z.boolean(), eos: z.boolean(), textField: z.string(), excludeSets: z.array(z.string()) }),
  inputs: z.array(InputEntrySchema),
  shards: z.array(ShardEntrySchema),
  totals: TotalsSchema,
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type ShardEntry = z.infer<typeof ShardEntrySchema>;
export type InputEntry = z.infer<typeof InputEntrySchema>;
export type Masking = z.infer<typeof MaskingSchema>;
export type TokenizerInfo = z.infer<typeof TokenizerInfoSchema>;

/** The three columns every shard holds, in this order, each List<Int32>. */
export const SHARD_COLUMNS = ['input_ids', 'labels', 'position_ids'] as const;
export type ShardColumn = (typeof SHARD_COLUMNS)[number];
