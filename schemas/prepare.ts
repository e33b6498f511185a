/**
 * Everything `meap prepare` (and `meap demo`) needs, after defaults: the CLI only turns strings into
 * this. Defaults, ranges and choices live here and nowhere else; `--help` shows them from here.
 *
 * A union on `mode`: each mode's object is strict, so an option that only the other mode reads is
 * refused rather than silently ignored.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ENGINES, FORMATS, MASK_OPTIONS, MASK_STRATEGIES, maskTakes, MODES, ON_ERROR, PROGRESS_MODES, SFT_LAYOUTS } from './enums.ts';

const Id = z.number().int().min(0);
const Count = (min: number) => z.number().int().min(min);

/** Options both modes read. */
const common = {
  inputs: z.array(z.string().min(1)).min(1, 'give at least one input path, directory or glob'),
  out: z.string().min(1),
  tokenizer: z.string().min(1),
  format: z.enum(FORMATS).optional(),
  limit: Count(1).optional(),
  engine: z.enum(ENGINES).default('bpe'),
  /** Tokenizer threads; the output is identical for any value. */
  workers: Count(1).default(() => availableParallelism()),
  bos: z.boolean().default(true),
  eos: z.boolean().default(true),
  bosId: Id.optional(),
  eosId: Id.optional(),
  maskTokenId: Id.optional(),
  seqLen: Count(2).default(4096),
  seed: Id.max(Number.MAX_SAFE_INTEGER).default(0),
  shardRows: Count(1).default(1024),
  onError: z.enum(ON_ERROR).default('fail'),
  maxDocChars: Count(1).default(8_000_000),
  numPartitions: Count(1).optional(),
  partition: Id.optional(),
  overwrite: z.boolean().default(false),
  /** Say what the run would read, skip, mask and do with `out`, and stop before reading a record. */
  dryRun: z.boolean().default(false),
  progress: z.enum(PROGRESS_MODES).default('auto'),
};

const Ratio = z.number().min(0).max(1);

export const DEFAULT_TEXT_FIELD = 'text';
export const DEFAULT_SPAN_LENGTH = 5;

// Strict: an option mapped to a wrong key, or one the other mode owns, must fail loudly, not vanish.
export const PretrainOptionsSchema = z.strictObject({
  mode: z.literal('pretrain'),
  ...common,
  textField: z.string().min(1).default(DEFAULT_TEXT_FIELD),
  excludeSets: z.array(z.string()).default([]),
  mask: z.enum(MASK_STRATEGIES).default('random'),
  /** The paper's pre-training ratio. */
  maskRatio: Ratio.default(0.15),
  /** Only with `--mask span`, where it defaults to 5; 50 is the paper's other ablation. */
  spanLength: Count(1).optional(),
});

export const SftOptionsSchema = z.strictObject({
  mode: z.literal('sft'),
  ...common,
  /** The paper's fine-tuning ratio, of each duplicated answer's tokens. */
  maskRatio: Ratio.default(0.1),
  template: z.string().min(1).default('alpaca'),
  minAnswerTokens: Count(0).default(50),
  sftLayout: z.enum(SFT_LAYOUTS).default('concat'),
  pack: z.boolean().default(false),
});


const PretrainConfigSchema = PretrainOptionsSchema.transform((c) => ({
  ...c,
  spanLength: maskTakes(c.mask, 'spanLength') ? (c.spanLength ?? DEFAULT_SPAN_LENGTH) : null,
}));

/** Each option a mask strategy may read, with the `--mask` strategies that read it (the default strategy is random). */
const ONLY_WITH_MASK = MASK_OPTIONS.map((key) => [key, MASK_STRATEGIES.filter((s) => maskTakes(s, key))] as const);

/**
 * `mode` may be left out: pre-training is the default. An option that the chosen strategy would
 * ignore is refused, as the other mode's options are: a run that silently masked at random after
 * `--span-length 50` would cost a training run to find out. It is checked on the options as given,
 * before defaults, and the issue names in `params.onlyWith` what makes the option count, for the
 * CLI to spell.
 */
export const PrepareConfigSchema = z.preprocess(
  (v, ctx) => {
    if (v === null || typeof v !== 'object') return v;
    const given = v as Record<string, unknown>;
    const mode = given.mode ?? MODES[0];
    if (mode === 'pretrain') {
      const mask = given.mask ?? PretrainOptionsSchema.shape.mask.parse(undefined);
      for (const [key, values] of ONLY_WITH_MASK) {
        if (given[key] !== undefined && typeof mask === 'string' && !values.some((s) => s === mask)) {
          ctx.addIssue({ code: 'custom', path: [key], message: `applies only where mask is ${values.join(' or ')}`, params: { onlyWith: { key: 'mask', values } }, input: v });
        }
      }
    }
    return { ...given, mode };
  },
  z.discriminatedUnion('mode', [PretrainConfigSchema, SftOptionsSchema]),
);

export type PrepareConfigInput = z.input<typeof PretrainOptionsSchema> | z.input<typeof SftOptionsSchema>;
export type PrepareConfig = z.output<typeof PrepareConfigSchema>;
export type PretrainConfig = Extract<PrepareConfig, { mode: 'pretrain' }>;
export type SftConfig = Extract<PrepareConfig, { mode: 'sft' }>;
