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

/** `--model` when neither it nor `--init` is given. */
export const DEFAULT_MODEL = 'tiny';

export const TrainConfigSchema = z.strictObject({
  data: z.array(z.string().min(1)).min(1, 'give at least one --data directory'),
  out: z.string().min(1),
  /** A preset or a shape file; absent: DEFAULT_MODEL, or with `init` the checkpoint's own shape. */
  model: z.string().min(1).optional(),
  /** A Hugging Face Llama folder (config.json and safetensors) whose weights a fresh run starts from. */
  init: z.string().min(1).optional(),
  /** 0 writes the step-0 checkpoint (the initial or imported weights) and trains nothing. */
  steps: z.number().int().min(0),
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
  /** Replace the run in `out` (never files that meap train did not write). */
  overwrite: z.boolean().default(false),
  progress: z.enum(PROGRESS_MODES).default('auto'),
});
export type TrainConfig = z.output<typeof TrainConfigSchema>;

/** `meap order`: the rows `meap train --seed S` reads, in its order; the data and seed are train's. */
export const OrderConfigSchema = z.strictObject({
  data: TrainConfigSchema.shape.data,
  seed: TrainConfigSchema.shape.seed,
  epochs: z.number().int().min(1).default(1),
});
export type OrderConfig = z.output<typeof OrderConfigSchema>;

/** `meap eval`: a run's latest checkpoint against held-out shards. */
export const EvalConfigSchema = z.strictObject({
  run: z.string().min(1),
  data: z.array(z.string().min(1)).min(1, 'give at least one --data directory'),
  batchRows: z.number().int().min(1).default(4),
  /** Evaluate the first N rows (in manifest order) only; absent: every row. */
  maxRows: z.number().int().min(1).optional(),
  /** Also the paper's Table 10: attention to [MASK] keys against the others, and the weights' variance. */
  attentionStats: z.boolean().default(false),
  backend: z.enum(BACKENDS).default('auto'),
  json: z.boolean().default(false),
});
export type EvalConfig = z.output<typeof EvalConfigSchema>;

/** A comma-separated list of whole numbers, as `--lengths 256,512` gives it. */
const wholeNumbers = (min: number, max: number, what: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN)) : v),
    z.array(z.number({ error: `write ${what} as whole numbers separated by commas` }).int().min(min).max(max)).min(1),
  );

/** `meap eval --needle`: needle-in-a-haystack retrieval of a run's checkpoint over a grid of lengths and depths. */
export const NeedleConfigSchema = z.strictObject({
  run: z.string().min(1),
  /** Inputs `meap prepare` reads: their text records, concatenated in order. */
  haystack: z.array(z.string().min(1)).min(1, 'give a --haystack corpus'),
  /** Prompt lengths in tokens (BOS, context and question). */
  lengths: wholeNumbers(16, 1 << 20, 'lengths').default([256, 512, 1024, 2048]),
  /** Per cent of the context before the needle. */
  depths: wholeNumbers(0, 100, 'depths').default([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
  /** Prompts per cell of the grid, each with its own needle. */
  needles: z.number().int().min(1).default(4),
  seed: z.number().int().min(0).default(0),
  /** JSONL of {needle, question, answer}, used in turn in place of the drawn magic numbers. */
  needleFile: z.string().min(1).optional(),
  /** Where to write the prompts as JSONL, for other tools to score on the same prompts. */
  savePrompts: z.string().min(1).optional(),
  /** Where needle.json and needle.svg go; absent: the run directory. */
  out: z.string().min(1).optional(),
  /** A checkpoint's step; absent: the latest. */
  step: z.number().int().min(0).optional(),
  /** The run's tokenizer.json; absent: prepare's cached copy, by the sha256 the checkpoint records. */
  tokenizer: z.string().min(1).optional(),
  backend: z.enum(BACKENDS).default('auto'),
  json: z.boolean().default(false),
});
export type NeedleConfig = z.output<typeof NeedleConfigSchema>;

/** A size as huggingface_hub's `parse_size_to_int` reads it (decimal units), or a byte count. */
const SHARD_SIZE = /^(\d+(?:\.\d+)?)\s*(TB|GB|MB|KB)?$/i;
const SIZE_UNITS: Record<string, number> = { TB: 1e12, GB: 1e9, MB: 1e6, KB: 1e3 };

/** `meap export`: a run's checkpoint as a Hugging Face Llama folder. */
export const ExportConfigSchema = z.strictObject({
  run: z.string().min(1),
  out: z.string().min(1),
  /** A checkpoint's step; absent: the latest. */
  step: z.number().int().min(0).optional(),
  /** The run's tokenizer.json (or a folder holding one); absent: prepare's cached copy, by the sha256 the checkpoint records. */
  tokenizer: z.string().min(1).optional(),
  /** Transformers' `save_pretrained` default: past it the weights are sharded with an index. */
  maxShardSize: z.string().regex(SHARD_SIZE, 'write a size such as 50GB, 500MB or a byte count').default('50GB'),
});
export type ExportConfig = z.output<typeof ExportConfigSchema>;

/** The bytes of a `maxShardSize` (5GB is 5·10⁹, as in huggingface_hub). */
export function shardSizeBytes(size: string): number {
  const m = SHARD_SIZE.exec(size.trim());
  if (m === null) throw new RangeError(`not a size: ${size}`);
  return Math.floor(Number(m[1]) * (m[2] === undefined ? 1 : SIZE_UNITS[m[2].toUpperCase()]));
}
