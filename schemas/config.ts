import { z } from 'zod';

export const FORMATS = ['jsonl', 'jsonl.zst', 'json', 'parquet'] as const;
export type InputFormat = (typeof FORMATS)[number];

export const ENGINES = ['native', 'js'] as const;
export type Engine = (typeof ENGINES)[number];

const Id = z.number().int().nonnegative();

/** Everything `meap prepare` needs, after defaults; the CLI only parses strings into this. */
export const PrepareConfigSchema = z
  // Strict: an option the CLI maps to a wrong key must fail loudly, not vanish.
  .strictObject({
    inputs: z.array(z.string().min(1)).min(1, 'give at least one input path, directory or glob'),
    out: z.string().min(1),
    tokenizer: z.string().min(1),
    format: z.enum(FORMATS).optional(),
    textField: z.string().min(1).default('text'),
    excludeSets: z.array(z.string()).default([]),
    limit: z.number().int().positive().optional(),
    engine: z.enum(ENGINES).default('native'),
    workers: z.number().int().positive(),
    bos: z.boolean().default(true),
    eos: z.boolean().default(true),
    bosId: Id.optional(),
    eosId: Id.optional(),
    maskTokenId: Id.optional(),
    seqLen: z.number().int().min(2).default(4096),
    mode: z.enum(['pretrain', 'sft']).default('pretrain'),
    mask: z.enum(['random', 'span', 'none']).default('random'),
    /** Defaults by mode: 0.15 for pre-training, 0.10 for SFT, as in the paper. */
    maskRatio: z.number().min(0).max(1).optional(),
    spanLength: z.number().int().positive().optional(),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).default(0),
    shardRows: z.number().int().positive().default(1024),
    onError: z.enum(['fail', 'skip']).default('fail'),
    maxDocChars: z.number().int().positive().default(8_000_000),
    numPartitions: z.number().int().positive().optional(),
    partition: z.number().int().nonnegative().optional(),
    overwrite: z.boolean().default(false),
    progress: z.enum(['auto', 'bar', 'log', 'none']).default('auto'),
    template: z.string().min(1).default('alpaca'),
    minAnswerTokens: z.number().int().nonnegative().default(50),
    sftLayout: z.enum(['concat', 'separate']).default('concat'),
    pack: z.boolean().default(false),
  })
  .transform((c) => ({
    ...c,
    maskRatio: c.maskRatio ?? (c.mode === 'sft' ? 0.1 : 0.15),
    spanLength: c.mode === 'pretrain' && c.mask === 'span' ? (c.spanLength ?? 5) : null,
  }));

export type PrepareConfigInput = z.input<typeof PrepareConfigSchema>;
export type PrepareConfig = z.output<typeof PrepareConfigSchema>;
