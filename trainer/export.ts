/**
 * `meap export RUN --out DIR`: a checkpoint as a folder `LlamaForCausalLM.from_pretrained` and
 * `AutoTokenizer.from_pretrained` load with no custom code: config.json, the weights as float32
 * safetensors (model.safetensors, or shards and model.safetensors.index.json past --max-shard-size),
 * generation_config.json and the tokenizer files with [MASK] (hf-tokenizer.ts).
 *
 * Memory stays at one tensor: the parameters are read from tensors.bin one at a time, in the blob's
 * order, and written as they come (a matrix transposed a block at a time); the AdamW moments are
 * read only to check the blob's sha256. Everything is written under a temporary sibling of --out,
 * fsynced, and renamed into place once the sha256 has matched, so an --out that exists is complete.
 *
 * Covered by test/trainer/export.test.ts and, through Transformers, test/interop/test_export.py.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fsyncDir, writeSynced } from '../core/durable.ts';
import { MeapError, configError, parseOrThrow, readJsonObject } from '../core/errors.ts';
import { makeDir } from '../core/make-dir.ts';
import { TrainExtraSchema, type CheckpointStateJson } from '../schemas/checkpoint.ts';
import { SPECIAL_TOKENS_MAP_FILE, TOKENIZER_CONFIG_FILE } from '../schemas/hf-files.ts';
import { embeddingRows, shardSizeBytes, type ExportConfig, type ModelShape } from '../schemas/train.ts';
import { checkpointDir, damaged, readCheckpointState, streamTensors } from './checkpoint.ts';
import { CONFIG, GENERATION_CONFIG, HF_DEFAULTS, generationConfig, hfName, hfShape, llamaConfig, llamaParams, transposeRows } from './hf-llama.ts';
import { tokenizerFiles, type TokenizerIds } from './hf-tokenizer.ts';
import { SAFETENSORS_INDEX, SafetensorsWriter, indexJson, planShards, type TensorSpec } from './safetensors.ts';

/** A tokenizer as `prepare` loads it (pipeline/tokenize/load.ts), what the export needs of it. */
export interface ExportTokenizer {
  /** The tokenizer.json read; its config files are beside it. */
  path: string;
  sha256: string;
  fullJson: string;
  /** The ids prepare gives it by default: for checkpoints that predate the recorded ids. */
  specials: TokenizerIds;
}

export interface ExportContext {
  /** The run's tokenizer: the one `--tokenizer` names, else prepare's cached copy, of this sha256 (checked); a one-line error where there is none. */
  tokenizer(sha256: string): Promise<ExportTokenizer>;
}

export interface ExportResult {
  out: string;
  step: number;
  /** The weight files, in order. */
  weightFiles: string[];
  tensors: number;
  parameters: number;
}

// A transposed block of at most this many bytes: memory is one tensor plus one block.
const BLOCK_BYTES = 16 << 20;

export async function exportRun(cfg: Pick<ExportConfig, 'run' | 'out' | 'step' | 'maxShardSize'>, ctx: ExportContext): Promise<ExportResult> {
  const dir = await checkpointDir(cfg.run, cfg.step);
  const state = await readCheckpointState(dir).catch(damaged(dir));
  const extra = parseOrThrow(TrainExtraSchema, state.extra, (at, message) =>
    new MeapError('integrity', `state.json extra.${at}: ${message}`, { file: dir }, 'this is not a checkpoint `meap train` wrote'),
  );
  const specs = hfTensors(state, extra.shape, extra.vocabRows, dir);
  await checkOut(cfg.out);

  const tok = await ctx.tokenizer(extra.tokenizerSha256);
  const ids = extra.tokenizer ?? tok.specials;
  if (embeddingRows(ids.vocabSize, ids.maskTokenId) !== extra.vocabRows) {
    throw configError(`the tokenizer's ${ids.vocabSize} tokens and [MASK] at id ${ids.maskTokenId} make ${embeddingRows(ids.vocabSize, ids.maskTokenId)} embedding rows, the run has ${extra.vocabRows}`, 'its shards were prepared with --mask-token-id, which only checkpoints of this meap record: resume the run with it to write one');
  }
  const beside = (name: string) => {
    const file = path.join(path.dirname(tok.path), name);
    return readJsonObject(file, (reason) => new MeapError('usage', reason, { file }, 'fix or remove this file beside tokenizer.json'), { optional: true });
  };
  const tokenizer = tokenizerFiles({ json: tok.fullJson, config: await beside(TOKENIZER_CONFIG_FILE), specialTokensMap: await beside(SPECIAL_TOKENS_MAP_FILE) }, ids);

  const shards = planShards(specs, shardSizeBytes(cfg.maxShardSize));
  const parent = path.dirname(path.resolve(cfg.out));
  await makeDir(parent);
  const tmp = path.join(parent, `.${path.basename(cfg.out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    await writeWeights(dir, state, specs, shards, tmp).catch(damaged(dir));
    const files: Record<string, string> = {
      [CONFIG]: json(llamaConfig({ shape: extra.shape, vocabRows: extra.vocabRows, bosId: ids.bosId, eosId: ids.eosId, maxPositionEmbeddings: extra.maxPositionEmbeddings ?? extra.seqLen ?? HF_DEFAULTS.maxPositionEmbeddings })),
      [GENERATION_CONFIG]: json(generationConfig(ids.bosId, ids.eosId)),
      ...tokenizer,
      ...(shards.length > 1 ? { [SAFETENSORS_INDEX]: indexJson(shards) } : {}),
    };
    for (const [name, text] of Object.entries(files)) await writeSynced(path.join(tmp, name), text, 'wx');
    await fsyncDir(tmp);
    // rename() replaces an empty directory, never a non-empty one: checkOut's check holds to the end.
    await fs.rename(tmp, cfg.out);
    await fsyncDir(parent);
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw e;
  }
  return {
    out: cfg.out,
    step: state.step,
    weightFiles: shards.map((s) => s.file),
    tensors: specs.length,
    parameters: state.params.reduce((n, p) => n + p.length, 0),
  };
}


/** The parameters under Transformers' names and shapes, in the blob's order; a checkpoint of another model is refused. */
function hfTensors(state: CheckpointStateJson, shape: ModelShape, vocabRows: number, dir: string): (TensorSpec & { transpose: boolean })[] {
  const want = llamaParams(shape, vocabRows);
  const got = state.params.map((p) => `${p.name}[${p.shape}]`).join(' ');
  if (got !== want.map((p) => `${p.name}[${p.shape}]`).join(' ')) {
    throw new MeapError('integrity', "the checkpoint's parameters are not those of its recorded model shape", { file: dir }, 'this is not a checkpoint `meap train` wrote');
  }
  return state.params.map((p) => {
    const { hf, transpose } = hfName(p.name);
    return { name: hf, shape: hfShape(p.shape, transpose), transpose };
  });
}

async function checkOut(out: string): Promise<void> {
  const entries = await fs.readdir(out).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw new MeapError('usage', e.code === 'ENOTDIR' ? 'it is a file' : `cannot be read (${e.code ?? e.message})`, { file: out }, 'choose another --out');
  });
  if (entries.length > 0) throw new MeapError('usage', 'the output directory is not empty', { file: out }, 'choose another --out, or remove it');
}

/**
 * Streams tensors.bin into the planned files; the blob's sha256 is checked before this returns. A
 * tensor over the shard size gets its file while the current one is still filling (huggingface_hub's
 * split), so a file is open from its first tensor to its last, and two may be open at once.
 */
async function writeWeights(dir: string, state: CheckpointStateJson, specs: readonly (TensorSpec & { transpose: boolean })[], shards: ReturnType<typeof planShards>, tmp: string): Promise<void> {
  const fileOf = new Map(shards.flatMap((s, k) => s.tensors.map((t) => [t.name, k] as const)));
  const left = shards.map((s) => s.tensors.length);
  const open = new Map<number, SafetensorsWriter>();
  try {
    await streamTensors(dir, state, async (i, t) => {
      if (i >= specs.length) return; // an AdamW moment: read for the sha256 only
      const spec = specs[i];
      const k = fileOf.get(spec.name)!;
      let w = open.get(k);
      if (w === undefined) {
        w = await SafetensorsWriter.create(path.join(tmp, shards[k].file), shards[k].tensors);
        open.set(k, w);
      }
      if (!spec.transpose) await w.append(t);
      else {
        // meap's [in, out] is written as Transformers' [out, in], a block of output rows at a time.
        const [outRows, inCols] = spec.shape;
        const block = Math.max(1, Math.floor(BLOCK_BYTES / (4 * inCols)));
        for (let r = 0; r < outRows; r += block) await w.append(transposeRows(t, inCols, outRows, r, Math.min(outRows, r + block)));
      }
      if (--left[k] === 0) {
        open.delete(k);
        await w.close();
      }
    });
  } finally {
    // Only after a failure: those files are incomplete, and their directory is about to be removed.
    for (const w of open.values()) await w.close().catch(() => {});
  }
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;
