/**
 * Every list of choices in meap, each declared once: the zod schemas, the CLI's `--help` and its
 * checks, the manifest and the pipeline all take them from here.
 *
 * Lists without logic, so no test of their own: test/schemas/prepare.test.ts and
 * test/schemas/manifest.test.ts check that the schemas built from them accept and refuse choices.
 */

export const MODES = ['pretrain', 'sft'] as const;
export type Mode = (typeof MODES)[number];

/** Input containers, by what `--format` accepts. */
export const FORMATS = ['jsonl', 'jsonl.zst', 'jsonl.gz', 'json', 'json.gz', 'parquet'] as const;
export type InputFormat = (typeof FORMATS)[number];

/** Tokenizer engines; `bpe`, meap's own, is the default and falls back to native where it does not apply. */
export const ENGINES = ['bpe', 'native', 'js'] as const;
export type Engine = (typeof ENGINES)[number];

/** Pre-training mask strategies (`--mask`). */
export const MASK_STRATEGIES = ['random', 'span', 'none'] as const;
export type PretrainMaskStrategy = (typeof MASK_STRATEGIES)[number];
/** SFT's only strategy: duplicate the example and mask the copy's answer. */
export const SFT_MASK_STRATEGY = 'sft-duplicate';
export type MaskStrategy = PretrainMaskStrategy | typeof SFT_MASK_STRATEGY;

export const SFT_LAYOUTS = ['concat', 'separate'] as const;
export type SftLayout = (typeof SFT_LAYOUTS)[number];

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
