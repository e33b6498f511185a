/**
 * meap's model as Transformers' LlamaForCausalLM: the tensor names and layouts, and config.json both
 * ways. meap stores a linear layer's weight [in, out] (x·W); Transformers stores nn.Linear's [out, in]
 * (x·Wᵀ), so every projection and the LM head is transposed, while the embedding and the norms are the
 * same in both. RoPE (rotate-half pairing) and the GQA head order (query head h reads KV head
 * ⌊h / rep⌋, as repeat_kv) are Transformers' already, so no weight is permuted.
 */
import { MeapError, parseOrThrow } from '../core/errors.ts';
import { HfLlamaConfigSchema } from '../schemas/hf-model.ts';
import { ModelShapeSchema, type ModelShape } from '../schemas/train.ts';

export const CONFIG = 'config.json';
export const GENERATION_CONFIG = 'generation_config.json';
export const ARCHITECTURE = 'LlamaForCausalLM';
/** LlamaConfig's defaults for the keys an older config.json may leave out. */
export const HF_DEFAULTS = { ropeTheta: 10000, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048 };

/** Transformers' name for a meap parameter, and whether the layouts are transposes of each other. */
export interface HfName {
  hf: string;
  transpose: boolean;
}

const TOP: Record<string, HfName> = {
  embed: { hf: 'model.embed_tokens.weight', transpose: false },
  final_norm: { hf: 'model.norm.weight', transpose: false },
  lm_head: { hf: 'lm_head.weight', transpose: true },
};
const LAYER: Record<string, HfName> = {
  attn_norm: { hf: 'input_layernorm.weight', transpose: false },
  wq: { hf: 'self_attn.q_proj.weight', transpose: true },
  wk: { hf: 'self_attn.k_proj.weight', transpose: true },
  wv: { hf: 'self_attn.v_proj.weight', transpose: true },
  wo: { hf: 'self_attn.o_proj.weight', transpose: true },
  mlp_norm: { hf: 'post_attention_layernorm.weight', transpose: false },
  w_gate: { hf: 'mlp.gate_proj.weight', transpose: true },
  w_up: { hf: 'mlp.up_proj.weight', transpose: true },
  w_down: { hf: 'mlp.down_proj.weight', transpose: true },
};

export function hfName(meapName: string): HfName {
  const top = TOP[meapName];
  if (top !== undefined) return top;
  const m = /^layers\.(\d+)\.(.+)$/.exec(meapName);
  const layer = m === null ? undefined : LAYER[m[2]];
  if (m === null || layer === undefined) throw new Error(`no Transformers name for the parameter ${meapName}`);
  return { hf: `model.layers.${m[1]}.${layer.hf}`, transpose: layer.transpose };
}

/** A meap shape in Transformers' layout: [in, out] ↔ [out, in] where the layouts differ. */
export const hfShape = (shape: readonly number[], transpose: boolean): number[] => (transpose ? [...shape].reverse() : [...shape]);

/** meap's parameters for a shape, in the order trainer/model.ts creates them (its test holds the two equal). */
export function llamaParams(shape: ModelShape, vocabRows: number): { name: string; shape: number[] }[] {
  const { hidden: h, intermediate: i, heads, kvHeads } = shape;
  const kv = kvHeads * (h / heads);
  const out = [{ name: 'embed', shape: [vocabRows, h] }];
  for (let l = 0; l < shape.layers; l++) {
    const p = `layers.${l}.`;
    out.push(
      { name: `${p}attn_norm`, shape: [h] },
      { name: `${p}wq`, shape: [h, h] },
      { name: `${p}wk`, shape: [h, kv] },
      { name: `${p}wv`, shape: [h, kv] },
      { name: `${p}wo`, shape: [h, h] },
      { name: `${p}mlp_norm`, shape: [h] },
      { name: `${p}w_gate`, shape: [h, i] },
      { name: `${p}w_up`, shape: [h, i] },
      { name: `${p}w_down`, shape: [i, h] },
    );
  }
  out.push({ name: 'final_norm', shape: [h] }, { name: 'lm_head', shape: [h, vocabRows] });
  return out;
}

export interface LlamaConfigInput {
  shape: ModelShape;
  vocabRows: number;
  bosId: number | null;
  eosId: number | null;
  maxPositionEmbeddings: number;
}

/**
 * config.json for LlamaForCausalLM, keys sorted as `save_pretrained` writes them. Transformers 5 reads
 * `rope_parameters` and `dtype`; `rope_theta` and `torch_dtype` are there for Transformers 4.
 */
export function llamaConfig(c: LlamaConfigInput): Record<string, unknown> {
  const { shape } = c;
  return {
    architectures: [ARCHITECTURE],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: c.bosId,
    dtype: 'float32',
    eos_token_id: c.eosId,
    head_dim: shape.hidden / shape.heads,
    hidden_act: 'silu',
    hidden_size: shape.hidden,
    initializer_range: 0.02,
    intermediate_size: shape.intermediate,
    max_position_embeddings: c.maxPositionEmbeddings,
    mlp_bias: false,
    model_type: 'llama',
    num_attention_heads: shape.heads,
    num_hidden_layers: shape.layers,
    num_key_value_heads: shape.kvHeads,
    pad_token_id: null,
    pretraining_tp: 1,
    rms_norm_eps: shape.normEps,
    rope_parameters: { rope_theta: shape.ropeBase, rope_type: 'default' },
    rope_theta: shape.ropeBase,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabRows,
  };
}

/** generation_config.json: the ids generation starts and stops at, where the tokenizer has them. */
export function generationConfig(bosId: number | null, eosId: number | null): Record<string, unknown> {
  return { ...(bosId === null ? {} : { bos_token_id: bosId }), ...(eosId === null ? {} : { eos_token_id: eosId }) };
}

/** What meap takes from a Llama config.json. */
export interface HfLlama {
  shape: ModelShape;
  /** The embedding's rows. */
  vocabSize: number;
  /** The LM head is the embedding (no lm_head.weight is stored). */
  tied: boolean;
  maxPositionEmbeddings: number;
}

/** A config.json as meap's model, or one line naming what meap's Llama does not have. */
export function parseLlamaConfig(json: unknown, file: string): HfLlama {
  const fail = (what: string, hint?: string) => new MeapError('config', what, { file }, hint);
  const obj = (typeof json === 'object' && json !== null && !Array.isArray(json) ? json : {}) as Record<string, unknown>;
  const archs = Array.isArray(obj.architectures) ? obj.architectures : [];
  if (obj.model_type !== 'llama' || (archs.length > 0 && !archs.includes(ARCHITECTURE))) {
    const what = `${JSON.stringify(obj.model_type ?? null)}${archs.length > 0 ? ` (${archs.join(', ')})` : ''}`;
    throw fail(`not a Llama checkpoint: model_type ${what}`, `meap starts from model_type "llama" checkpoints (${ARCHITECTURE}) only`);
  }
  const c = parseOrThrow(HfLlamaConfigSchema, json, (at, message) => fail(`${at || 'config'}: ${message}`));
  const unsupported = (what: string) => fail(`${what}, which meap's Llama does not have`, 'meap starts from plain Llama checkpoints (SwiGLU, no biases, default RoPE)');
  if ((c.hidden_act ?? 'silu') !== 'silu') throw unsupported(`hidden_act ${JSON.stringify(c.hidden_act)}`);
  if (c.attention_bias === true) throw unsupported('attention_bias true');
  if (c.mlp_bias === true) throw unsupported('mlp_bias true');
  const ropeType = c.rope_parameters?.rope_type ?? 'default';
  if (ropeType !== 'default') throw unsupported(`rope_type ${JSON.stringify(ropeType)}`);
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) throw unsupported(`rope_scaling ${JSON.stringify(c.rope_scaling)}`);
  if (c.head_dim != null && c.head_dim * c.num_attention_heads !== c.hidden_size) {
    throw unsupported(`head_dim ${c.head_dim} × ${c.num_attention_heads} heads ≠ hidden_size ${c.hidden_size}`);
  }
  const shape = parseOrThrow(
    ModelShapeSchema,
    {
      layers: c.num_hidden_layers,
      hidden: c.hidden_size,
      intermediate: c.intermediate_size,
      heads: c.num_attention_heads,
      kvHeads: c.num_key_value_heads ?? c.num_attention_heads,
      ropeBase: c.rope_parameters?.rope_theta ?? c.rope_theta ?? HF_DEFAULTS.ropeTheta,
      normEps: c.rms_norm_eps ?? HF_DEFAULTS.rmsNormEps,
    },
    (at, message) => fail(`${at}: ${message}`),
  );
  return {
    shape,
    vocabSize: c.vocab_size,
    tied: c.tie_word_embeddings ?? false,
    maxPositionEmbeddings: c.max_position_embeddings ?? HF_DEFAULTS.maxPositionEmbeddings,
  };
}

/** meap's shape field ↔ config.json's key, for messages that name both. */
export const CONFIG_KEYS: Record<keyof ModelShape, string> = {
  layers: 'num_hidden_layers',
  hidden: 'hidden_size',
  intermediate: 'intermediate_size',
  heads: 'num_attention_heads',
  kvHeads: 'num_key_value_heads',
  ropeBase: 'rope_theta',
  normEps: 'rms_norm_eps',
};

/**
 * Rows [r0, r1) of the transpose of a row-major [rows, cols] matrix, i.e. of the [cols, rows] result:
 * a large matrix is transposed a block at a time. Source rows are read in order, so the cache holds.
 */
export function transposeRows(src: Float32Array, rows: number, cols: number, r0: number, r1: number): Float32Array {
  const out = new Float32Array((r1 - r0) * rows);
  for (let i = 0; i < rows; i++) {
    const base = i * cols;
    for (let j = r0; j < r1; j++) out[(j - r0) * rows + i] = src[base + j];
  }
  return out;
}
