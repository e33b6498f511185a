import { z } from 'zod';
import { BACKENDS, PRECISIONS, PROGRESS_MODES } from './enums.ts';

/** A model's shape; `--model FILE.json` holds exactly these fields. */
export const ModelShapeSchema = z.strictObject({
  layers: z.number().int().positive(),
  hidden: z.number().int().positive(),
  intermediate: z.number().int().positive(),
  heads: z.number().int().positive(),
  kvHeads: z.number().int().positive(),
  ropeBase: z.number().positive().default(10000),
  normEps: z.number().positive().default(1e-5),
}).refine((m) => m.hidden % m.heads === 0, { message: 'hidden must be a multiple of heads' })
  .refine((m) => m.heads % m.kvHeads === 0, { message: 'heads must be a multiple of kvHeads' })
  .refine((m) => (m.hidden / m.heads) % 2 === 0, { message: 'the head size (hidden / heads) must be even for RoPE' });

export type ModelShape = z.output<typeof ModelShapeSchema>;

/** Presets from the paper's code (layers / hidden / intermediate / heads / KV groups), plus `tiny` for CPUs. */
export const PRESETS: Record<'tiny' | '100m' | '300m' | '500m' | '1b', ModelShape> = {
  tiny: { layers: 2, hidden: 64, intermediate: 172, heads: 4, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
  '100m': { layers: 12, hidden: 768, intermediate: 2048, heads: 12, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
  '300m': { layers: 24, hidden: 1024, intermediate: 2736, heads: 16, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
  '500m': { layers: 24, hidden: 1024, intermediate: 4864, heads: 16, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
  '1b': { layers: 24, hidden: 2048, intermediate: 5632, heads: 32, kvHeads: 2, ropeBase: 10000, normEps: 1e-5 },
};

/** A model: its shape plus the embedding's rows. */
export interface ModelConfig extends ModelShape {
  vocabRows: number;
}

/**
 * Rows of the token embedding (and LM head outputs): the vocabulary plus [MASK], rounded up to a
 * multiple of 64 as the paper's code does (32000 + 1 → 32064 for Llama-2). A mask id beyond the
 * vocabulary (an override) still gets its row.
 */
export function embeddingRows(vocabSize: number, maskTokenId: number): number {
  return Math.ceil(Math.max(vocabSize + 1, maskTokenId + 1) / 64) * 64;
}

export const TrainConfigSchema = z.strictObject({
  data: z.array(z.string().min(1)).min(1, 'give at least one --data directory'),
  out: z.string().min(1),
  model: z.string().min(1).default('tiny'),
  steps: z.number().int().min(1),
  batchSize: z.number().int().min(1).default(8),
  /** Rows per forward/backward pass; gradients accumulate up to batchSize. Defaults to batchSize. */
  microBatch: z.number().int().min(1).optional(),
  lr: z.number().positive().default(4e-4),
  minLr: z.number().nonnegative().default(4e-5),
  warmup: z.number().min(0).max(1).default(0.1),
  weightDecay: z.number().min(0).default(0.05),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.95),
  eps: z.number().positive().default(1e-8),
  clip: z.number().min(0).default(1.0),
  seed: z.number().int().min(0).default(0),
  backend: z.enum(BACKENDS).default('auto'),
  precision: z.enum(PRECISIONS).default('f32'),
  checkpointEvery: z.number().int().min(1).default(100),
  keepLast: z.number().int().min(1).default(3),
  resume: z.boolean().default(false),
  progress: z.enum(PROGRESS_MODES).default('auto'),
});
export type TrainConfig = z.output<typeof TrainConfigSchema>;

/** `meap eval`: a run's latest checkpoint against held-out shards. */
export const EvalConfigSchema = z.strictObject({
  run: z.string().min(1),
  data: z.array(z.string().min(1)).min(1, 'give at least one --data directory'),
  batchRows: z.number().int().min(1).default(4),
  backend: z.enum(BACKENDS).default('auto'),
  json: z.boolean().default(false),
});
export type EvalConfig = z.output<typeof EvalConfigSchema>;
