/**
 * What meap reads of a Hugging Face model folder: `config.json` (the Llama fields only; the rest is
 * kept loose, since every Transformers release adds keys), the safetensors header, and
 * `model.safetensors.index.json`. Writing them is trainer/hf-llama.ts's and trainer/safetensors.ts's.
 *
 * Covered by test/trainer/hf-llama.test.ts and test/trainer/safetensors.test.ts.
 */
import { z } from 'zod';
import { Count, RelativePath } from './primitives.ts';

const PositiveInt = z.number().int().positive();
const TokenIds = z.union([Count, z.array(Count)]).nullish();

/** LlamaConfig's fields as Transformers 4.x and 5.x write them (`rope_theta` then `rope_parameters`). */
export const HfLlamaConfigSchema = z.looseObject({
  vocab_size: PositiveInt,
  hidden_size: PositiveInt,
  intermediate_size: PositiveInt,
  num_hidden_layers: PositiveInt,
  num_attention_heads: PositiveInt,
  num_key_value_heads: PositiveInt.nullish(),
  head_dim: PositiveInt.nullish(),
  hidden_act: z.string().optional(),
  rms_norm_eps: z.number().positive().optional(),
  rope_theta: z.number().positive().optional(),
  rope_parameters: z.looseObject({ rope_theta: z.number().positive().optional(), rope_type: z.string().optional() }).nullish(),
  rope_scaling: z.unknown().optional(),
  max_position_embeddings: PositiveInt.optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  bos_token_id: TokenIds,
  eos_token_id: TokenIds,
});
export type HfLlamaConfig = z.output<typeof HfLlamaConfigSchema>;

/** One tensor of a safetensors header; offsets count bytes from the end of the header. */
export const SafetensorsEntrySchema = z.strictObject({
  dtype: z.string().min(1),
  shape: z.array(Count),
  data_offsets: z.tuple([Count, Count]).refine(([a, b]) => a <= b, { message: 'data_offsets must be [begin, end] with begin ≤ end' }),
});
export type SafetensorsEntry = z.output<typeof SafetensorsEntrySchema>;

/** `__metadata__` is string → string (Transformers writes {"format": "pt"}). */
export const SafetensorsMetadataSchema = z.record(z.string(), z.string());

/** `model.safetensors.index.json`, as `save_pretrained` writes it past its shard size. */
export const SafetensorsIndexSchema = z.looseObject({
  metadata: z.looseObject({ total_size: Count.optional() }).optional(),
  weight_map: z.record(z.string(), RelativePath),
});
export type SafetensorsIndex = z.output<typeof SafetensorsIndexSchema>;
