/**
 * Every list of choices in meap, each declared once: the zod schemas, the CLI's `--help` and its
 * checks, the manifest and the pipeline all take them from here.
 *
 * Lists, and what is read straight off them, so no test of their own: test/schemas/prepare.test.ts
 * and test/schemas/manifest.test.ts check that the schemas built from them accept and refuse choices.
 */

export const MODES = ['pretrain', 'sft'] as const;
export type Mode = (typeof MODES)[number];

/** Input formats, by what `--format` accepts; each one's extensions, container and compression: datasets/formats.ts. */
export const FORMATS = ['jsonl', 'jsonl.zst', 'jsonl.gz', 'json', 'json.gz', 'parquet'] as const;
export type InputFormat = (typeof FORMATS)[number];

/** Tokenizer engines; `bpe`, meap's own, is the default and falls back to native where it does not apply. */
export const ENGINES = ['bpe', 'native', 'js'] as const;
export type Engine = (typeof ENGINES)[number];

/** The options a mask strategy may read, in the order the prepare schema checks them. */
export const MASK_OPTIONS = ['spanLength', 'maskRatio', 'seed'] as const;
export type MaskOption = (typeof MASK_OPTIONS)[number];

/**
 * Every mask strategy: the mode it masks for and the options it reads (the prepare schema refuses the
 * others). Its sampler is its entry in pipeline/mask.ts's STRATEGIES, a record over these names, so a
 * strategy named here without a sampler, or there without a line here, does not compile. A new
 * strategy also gets its section of the README's mask specification, its twin in
 * docs/mask_reference.py and its vectors in test/pipeline/mask.test.ts.
 */
const MASKS = {
  random: { mode: 'pretrain', takes: ['maskRatio', 'seed'] },
  span: { mode: 'pretrain', takes: ['spanLength', 'maskRatio', 'seed'] },
  none: { mode: 'pretrain', takes: [] },
  'sft-duplicate': { mode: 'sft', takes: ['maskRatio', 'seed'] },
} as const satisfies Record<string, { mode: Mode; takes: readonly MaskOption[] }>;
export type MaskStrategy = keyof typeof MASKS;
export type PretrainMaskStrategy = { [S in MaskStrategy]: (typeof MASKS)[S]['mode'] extends 'pretrain' ? S : never }[MaskStrategy];

/** Whether `strategy` reads `option`: where it does not, the option is refused, and the pipeline never reads it. */
export function maskTakes(strategy: MaskStrategy, option: MaskOption): boolean {
  const takes: readonly MaskOption[] = MASKS[strategy].takes;
  return takes.includes(option);
}

/** `--mask`'s choices, in the order above. */
export const MASK_STRATEGIES: readonly PretrainMaskStrategy[] = (Object.keys(MASKS) as MaskStrategy[]).filter((s): s is PretrainMaskStrategy => MASKS[s].mode === 'pretrain');
/** SFT's only strategy: duplicate the example and mask the copy's answer. */
export const SFT_MASK_STRATEGY = 'sft-duplicate' satisfies MaskStrategy;

export const SFT_LAYOUTS = ['concat', 'separate'] as const;
export type SftLayout = (typeof SFT_LAYOUTS)[number];

/** How `--pack` places SFT examples in rows (the manifest records it with its window). */
export const SFT_PACK_ALGORITHM = 'best-fit-decreasing';

export const ON_ERROR = ['fail', 'skip'] as const;
export type OnError = (typeof ON_ERROR)[number];

export const PROGRESS_MODES = ['auto', 'bar', 'log', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

/** tfjs backends; `auto` takes the first of the others that loads (WebGPU on a hardware adapter only). */
export const BACKENDS = ['auto', 'gpu', 'webgpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

/** Matmul precision of the WebGPU engine: f32, or f16 inputs with f32 accumulation. */
export const PRECISIONS = ['f32', 'mixed'] as const;
export type Precision = (typeof PRECISIONS)[number];

export const REPO_TYPES = ['dataset', 'model'] as const;
export type RepoType = (typeof REPO_TYPES)[number];
