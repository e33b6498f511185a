/**
 * `checkpoints/step-N/state.json`: everything of a checkpoint except the tensors' bytes (see trainer/checkpoint.ts).
 * Covered by test/trainer/checkpoint.test.ts, which saves, reloads and corrupts checkpoints.
 */
import { z } from 'zod';
import { Count, Sha256 } from './primitives.ts';
import { TokenizerInfoSchema } from './settings.ts';
import { ModelShapeSchema } from './train.ts';

/** The blob beside state.json: every parameter, then every m, then every v, float32 little-endian. */
export const CHECKPOINT_TENSORS = 'tensors.bin';

/** Where one tensor sits in the blob: `offset` in bytes from its start, `length` in float32 values (4 bytes each). */
const Span = z.object({ offset: Count, length: Count });

export const CheckpointStateSchema = z.object({
  format: z.literal('meap-checkpoint'),
  version: z.literal(1),
  step: Count,
  cursor: z.object({ epoch: Count, window: Count, offset: Count }),
  params: z.array(Span.extend({ name: z.string(), shape: z.array(Count) })),
  optimizer: z.object({ step: Count, m: z.array(Span), v: z.array(Span) }),
  tensors: z.object({ file: z.literal(CHECKPOINT_TENSORS), bytes: Count, sha256: Sha256 }),
  extra: z.record(z.string(), z.unknown()),
});
export type CheckpointStateJson = z.infer<typeof CheckpointStateSchema>;

/**
 * What `meap export` reads of a `meap train` checkpoint's `extra`. `tokenizer`, `seqLen` and
 * `maxPositionEmbeddings` came with export: older checkpoints lack them.
 */
export const TrainExtraSchema = z.looseObject({
  shape: ModelShapeSchema,
  vocabRows: z.number().int().positive(),
  tokenizerSha256: Sha256,
  tokenizer: TokenizerInfoSchema.omit({ sha256: true }).optional(),
  seqLen: z.number().int().positive().optional(),
  maxPositionEmbeddings: z.number().int().positive().optional(),
});
export type TrainExtra = z.output<typeof TrainExtraSchema>;
