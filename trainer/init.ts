/**
 * `meap train --init DIR`: a fresh run's weights from a Hugging Face Llama checkpoint (config.json,
 * and model.safetensors or model.safetensors.index.json with its shards; F32, BF16 or F16, read as
 * float32). Everything is checked before a weight is read: that the config is a Llama meap can train,
 * that every tensor is there in the shape config.json gives it, that `--model` (if given) agrees, and
 * that the checkpoint's vocabulary fits the shards'.
 *
 * The vocabulary, with N the checkpoint's embedding rows and, from the shards' manifest, V the
 * tokenizer's size, M the [MASK] id and R = embeddingRows(V, M):
 *   N < V            refused: the shards hold ids the checkpoint has no row for;
 *   N > R            refused: the checkpoint has rows meap's embedding does not;
 *   V ≤ M < N        the checkpoint has a row at the [MASK] id already: taken if DIR's tokenizer.json
 *                    names that id [MASK] (or <mask>), refused otherwise ("no room for [MASK]": the
 *                    id is one of the checkpoint's own tokens, or nothing says it is not);
 *   otherwise        N ≤ R: rows N..R-1 of the embedding and of the LM head are new (growRows).
 *
 * Covered by test/trainer/init.test.ts and, against Transformers, test/interop/test_init.py.
 */
import * as path from 'node:path';
import { MeapError, readJsonObject } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { Rng } from '../core/rng.ts';
import { MASK_TOKENS, TOKENIZER_FILE } from '../schemas/hf-files.ts';
import type { ModelShape } from '../schemas/train.ts';
import type { SavedParam } from './train-engine.ts';
import { CONFIG, CONFIG_KEYS, hfName, hfShape, llamaParams, parseLlamaConfig, transposeRows, type HfLlama } from './hf-llama.ts';
import { tokenAt } from './hf-tokenizer.ts';
import { readCheckpointTensors, readTensorF32, type StoredTensor } from './safetensors.ts';

/** What the shards need of the embedding (their manifest's tokenizer). */
export interface ShardVocabulary {
  vocabSize: number;
  maskTokenId: number;
  vocabRows: number;
}

export interface InitSource {
  dir: string;
  hf: HfLlama;
  /** The checkpoint's embedding rows, and meap's (the shards'). */
  rows: number;
  vocabRows: number;
  /** The weights under meap's names and in its layouts, new rows included (from `seed`). */
  weights(seed: number): Promise<SavedParam[]>;
}

/** Buffers Transformers keeps in some older checkpoints; recomputed from the config, never trained. */
const IGNORED = /(^|\.)rotary_emb\.inv_freq$/;
/** Transformers' `_init_added_embeddings_weights_with_mean` samples new rows with this times the old rows' covariance. */
export const NEW_ROW_COVARIANCE_SCALE = 1e-9;
const newRowsTag = (name: string) => sha256Hex(`meap-init-new-rows-v1:${name}`);

export async function openInit(dir: string, vocab: ShardVocabulary): Promise<InitSource> {
  const configFile = path.join(dir, CONFIG);
  const json = await readJsonObject(configFile, (reason) => new MeapError('config', reason, { file: configFile }, '--init takes a Hugging Face model folder: config.json and model.safetensors'));
  const hf = parseLlamaConfig(json, configFile);
  const stored = await readCheckpointTensors(dir);
  const rows = hf.vocabSize;
  const wanted = planTensors(hf, stored, dir);
  const embed = stored.get(hfName('embed').hf)!;
  if (embed.shape[0] !== rows) throw mismatch(dir, `${embed.name} has ${embed.shape[0]} rows, config.json's vocab_size is ${rows}`);
  const maskToken = needsMaskToken(rows, vocab) ? await tokenAtMask(dir, vocab.maskTokenId) : undefined;
  checkVocabulary(dir, rows, vocab, maskToken);
  return { dir, hf, rows, vocabRows: vocab.vocabRows, weights: (seed) => readWeights(wanted, hf.shape, rows, vocab.vocabRows, seed) };
}

interface Wanted {
  name: string;
  /** null: the tied LM head, which is the embedding. */
  stored: StoredTensor | null;
  transpose: boolean;
}

/** Every meap parameter's stored tensor, checked for shape; tensors meap has no place for are refused. */
function planTensors(hf: HfLlama, stored: Map<string, StoredTensor>, dir: string): Wanted[] {
  const wanted: Wanted[] = [];
  const used = new Set<string>();
  for (const p of llamaParams(hf.shape, hf.vocabSize)) {
    const { hf: name, transpose } = hfName(p.name);
    const t = stored.get(name);
    if (t === undefined) {
      if (p.name === 'lm_head' && hf.tied) {
        wanted.push({ name: p.name, stored: null, transpose });
        continue;
      }
      throw mismatch(dir, `the checkpoint has no tensor ${name}${p.name === 'lm_head' ? ' (and config.json says tie_word_embeddings false)' : ''}`);
    }
    const want = hfShape(p.shape, transpose);
    if (t.shape.join(',') !== want.join(',')) throw mismatch(dir, `${name} has shape [${t.shape}], config.json makes it [${want}]`);
    used.add(name);
    wanted.push({ name: p.name, stored: t, transpose });
  }
  const extra = [...stored.keys()].filter((n) => !used.has(n) && !IGNORED.test(n));
  if (extra.length > 0) {
    throw new MeapError('config', `the checkpoint holds ${extra[0]}${extra.length > 1 ? ` and ${extra.length - 1} more tensors` : ''}, which meap's Llama has no place for`, { file: dir }, 'meap starts from plain Llama checkpoints (no biases, no adapters)');
  }
  return wanted;
}

const mismatch = (dir: string, what: string) =>
  new MeapError('config', `shape mismatch: ${what}`, { file: dir }, 'the safetensors and config.json must come from one save_pretrained');

/** Whether the [MASK] id is a row the checkpoint has but the shards' tokenizer does not know. */
export const needsMaskToken = (rows: number, v: ShardVocabulary) => v.maskTokenId >= v.vocabSize && v.maskTokenId < rows;

/** The token DIR's tokenizer.json gives the id; undefined without a tokenizer.json. */
async function tokenAtMask(dir: string, id: number): Promise<string | null | undefined> {
  const file = path.join(dir, TOKENIZER_FILE);
  const doc = await readJsonObject(file, (reason) => new MeapError('config', reason, { file }), { optional: true });
  return doc === null ? undefined : tokenAt(doc, id);
}

/** The rules in this file's header; `maskToken` is DIR's token at the [MASK] id (undefined: no tokenizer.json), read only when needsMaskToken. */
export function checkVocabulary(dir: string, rows: number, v: ShardVocabulary, maskToken?: string | null): void {
  const hint = `prepare the shards with the checkpoint's own tokenizer (--tokenizer ${dir}), so that [MASK] goes past its ${rows} tokens`;
  if (rows < v.vocabSize) {
    throw new MeapError('config', `shape mismatch: the checkpoint's vocabulary has ${rows} rows, the shards' tokenizer ${v.vocabSize} tokens`, { file: dir }, hint);
  }
  if (rows > v.vocabRows) {
    throw new MeapError(
      'config',
      `shape mismatch: the checkpoint's embedding has ${rows} rows, more than the ${v.vocabRows} meap gives the shards' tokenizer (${v.vocabSize} tokens and [MASK] at id ${v.maskTokenId}, rounded up to a multiple of 64)`,
      { file: dir },
      hint,
    );
  }
  if (needsMaskToken(rows, v) && !(MASK_TOKENS as readonly (string | null | undefined)[]).includes(maskToken)) {
    const what = maskToken === undefined ? `a row of the checkpoint's ${rows}-row embedding, and ${dir} has no tokenizer.json that names it [MASK]` : `the checkpoint's token ${JSON.stringify(maskToken)}`;
    const where = maskToken === undefined ? `put the checkpoint's tokenizer.json beside it (a meap export has one), or ${hint}` : hint;
    throw new MeapError('config', `no room for [MASK]: the shards put it at id ${v.maskTokenId}, which is ${what}`, { file: dir }, where);
  }
}

/** One line naming the first field where `--model` and config.json disagree. */
export function checkModelOption(dir: string, spec: string, given: ModelShape, hf: ModelShape): void {
  for (const key of Object.keys(CONFIG_KEYS) as (keyof ModelShape)[]) {
    if (given[key] !== hf[key]) {
      throw new MeapError('usage', `config.json has ${CONFIG_KEYS[key]} ${hf[key]}, --model ${spec} has ${key} ${given[key]}`, { file: dir }, "drop --model (the checkpoint's shape applies), or pass one that matches");
    }
  }
}

async function readWeights(wanted: readonly Wanted[], shape: ModelShape, rows: number, vocabRows: number, seed: number): Promise<SavedParam[]> {
  const meapShapes = new Map(llamaParams(shape, vocabRows).map((p) => [p.name, p.shape]));
  let embed: Float32Array | null = null;
  const out: SavedParam[] = [];
  for (const w of wanted) {
    let data: Float32Array = w.stored === null ? embed! : await readTensorF32(w.stored);
    const vocab = w.name === 'embed' || w.name === 'lm_head';
    // Both vocabulary matrices are [rows, hidden] here, in Transformers' layout; a tied head is the grown embedding, as Transformers ties after resizing.
    if (vocab && w.stored !== null && rows < vocabRows) data = growRows(data, rows, vocabRows, shape.hidden, Rng.forRow(seed, newRowsTag(w.name), 0));
    if (w.name === 'embed') embed = data;
    const s = meapShapes.get(w.name)!;
    // A transposed meap [in, out] is Transformers' [out, in]: transpose [out, in] back, all rows at once.
    out.push({ name: w.name, shape: s, data: w.transpose ? transposeRows(data, s[1], s[0], 0, s[0]) : data });
  }
  return out;
}

/**
 * `rows` → `newRows` rows of a [rows, hidden] matrix. A new row is the old rows' mean plus, per
 * column j, √(1e-9 · σ²ⱼ) · z with σ²ⱼ the old rows' (population) variance of column j and z a
 * standard normal: Transformers' `resize_token_embeddings` (mean_resizing) draws from the
 * multivariate normal with 1e-9 times the full covariance; meap keeps its diagonal, which costs one
 * pass over the rows instead of hidden² per row and a Cholesky factor. z is Box–Muller over
 * xoshiro128** words a, b: √(−2 ln((a+1)/2³²)) · cos(2π b/2³²), row-major over the new rows.
 */
export function growRows(old: Float32Array, rows: number, newRows: number, hidden: number, rng: Rng): Float32Array {
  const out = new Float32Array(newRows * hidden);
  out.set(old.subarray(0, rows * hidden));
  const mean = new Float64Array(hidden);
  const variance = new Float64Array(hidden);
  for (let i = 0; i < rows; i++) for (let j = 0; j < hidden; j++) mean[j] += old[i * hidden + j];
  for (let j = 0; j < hidden; j++) mean[j] /= rows;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < hidden; j++) {
      const d = old[i * hidden + j] - mean[j];
      variance[j] += d * d;
    }
  }
  for (let r = rows; r < newRows; r++) {
    for (let j = 0; j < hidden; j++) {
      const z = Math.sqrt(-2 * Math.log((rng.nextU32() + 1) / 2 ** 32)) * Math.cos((2 * Math.PI * rng.nextU32()) / 2 ** 32);
      out[r * hidden + j] = mean[j] + Math.sqrt((NEW_ROW_COVARIANCE_SCALE * variance[j]) / rows) * z;
    }
  }
  return out;
}
