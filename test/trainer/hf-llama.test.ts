/**
 * meap ↔ Transformers: the tensor name map, the parameter list held equal to trainer/model.ts's,
 * config.json both ways, its one-line refusals, and the blockwise transpose.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { PRESETS } from '../../schemas/train.ts';
import { hfName, hfShape, llamaConfig, llamaParams, parseLlamaConfig, transposeRows } from '../../trainer/hf-llama.ts';
import { LlamaModel } from '../../trainer/model.ts';

const tiny = PRESETS.tiny;

describe('hf-llama', () => {
  it("maps every parameter to Transformers' name, transposing the linear layers only", () => {
    expect(llamaParams(tiny, 128).map((p) => [p.name, hfName(p.name).hf, hfName(p.name).transpose])).toEqual([
      ['embed', 'model.embed_tokens.weight', false],
      ...[0, 1].flatMap((l) => [
        [`layers.${l}.attn_norm`, `model.layers.${l}.input_layernorm.weight`, false],
        [`layers.${l}.wq`, `model.layers.${l}.self_attn.q_proj.weight`, true],
        [`layers.${l}.wk`, `model.layers.${l}.self_attn.k_proj.weight`, true],
        [`layers.${l}.wv`, `model.layers.${l}.self_attn.v_proj.weight`, true],
        [`layers.${l}.wo`, `model.layers.${l}.self_attn.o_proj.weight`, true],
        [`layers.${l}.mlp_norm`, `model.layers.${l}.post_attention_layernorm.weight`, false],
        [`layers.${l}.w_gate`, `model.layers.${l}.mlp.gate_proj.weight`, true],
        [`layers.${l}.w_up`, `model.layers.${l}.mlp.up_proj.weight`, true],
        [`layers.${l}.w_down`, `model.layers.${l}.mlp.down_proj.weight`, true],
      ]),
      ['final_norm', 'model.norm.weight', false],
      ['lm_head', 'lm_head.weight', true],
    ]);
    expect(hfShape([64, 32], true)).toEqual([32, 64]);
    expect(() => hfName('layers.0.bias')).toThrow(/no Transformers name/);
  });

  it("lists the parameters trainer/model.ts creates, in its order and shapes", async () => {
    await tf.setBackend('cpu');
    const model = new LlamaModel({ ...tiny, vocabRows: 128 }, 0);
    expect(llamaParams(tiny, 128)).toEqual(model.params.map((p) => ({ name: p.name, shape: p.variable.shape })));
    model.dispose();
  });

  it('writes a config.json that reads back as the same shape', () => {
    const shape = { ...tiny, ropeBase: 500000, normEps: 1e-6 };
    const cfg = llamaConfig({ shape, vocabRows: 32064, bosId: 1, eosId: null, maxPositionEmbeddings: 128 });
    expect(cfg).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 32064, hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2,
      num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, rope_parameters: { rope_theta: 500000, rope_type: 'default' }, rope_theta: 500000,
      rms_norm_eps: 1e-6, tie_word_embeddings: false, attention_bias: false, mlp_bias: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: null,
      max_position_embeddings: 128, dtype: 'float32',
    });
    expect(Object.keys(cfg)).toEqual([...Object.keys(cfg)].sort());
    expect(parseLlamaConfig(JSON.parse(JSON.stringify(cfg)), 'config.json')).toEqual({ shape, vocabSize: 32064, tied: false, maxPositionEmbeddings: 128 });
  });

  it("reads an older config.json (rope_theta, no num_key_value_heads) with LlamaConfig's defaults", () => {
    const old = { model_type: 'llama', architectures: ['LlamaForCausalLM'], vocab_size: 32000, hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 4, rope_theta: 10000, rope_scaling: null, tie_word_embeddings: true };
    expect(parseLlamaConfig(old, 'config.json')).toEqual({
      shape: { layers: 2, hidden: 64, intermediate: 172, heads: 4, kvHeads: 4, ropeBase: 10000, normEps: 1e-6 },
      vocabSize: 32000,
      tied: true,
      maxPositionEmbeddings: 2048,
    });
  });

  it('refuses what is not a Llama meap can train, in one line naming config.json', () => {
    const base = { model_type: 'llama', vocab_size: 32000, hidden_size: 64, intermediate_size: 172, num_hidden_layers: 2, num_attention_heads: 4 };
    const refusal = (cfg: unknown, message: string) => {
      let e: unknown;
      try {
        parseLlamaConfig(cfg, '/m/config.json');
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(MeapError);
      expect((e as Error).message).toContain('/m/config.json: ');
      expect((e as Error).message).toContain(message);
    };
    refusal({ ...base, model_type: 'mistral', architectures: ['MistralForCausalLM'] }, 'not a Llama checkpoint: model_type "mistral" (MistralForCausalLM)');
    refusal({ ...base, architectures: ['LlamaForSequenceClassification'] }, 'not a Llama checkpoint: model_type "llama" (LlamaForSequenceClassification)');
    refusal({ ...base, model_type: undefined }, 'not a Llama checkpoint: model_type null');
    refusal({ ...base, attention_bias: true }, "attention_bias true, which meap's Llama does not have");
    refusal({ ...base, rope_parameters: { rope_type: 'llama3', rope_theta: 500000 } }, 'rope_type "llama3"');
    refusal({ ...base, rope_scaling: { type: 'linear', factor: 2 } }, 'rope_scaling');
    refusal({ ...base, hidden_act: 'gelu' }, 'hidden_act "gelu"');
    refusal({ ...base, head_dim: 32 }, 'head_dim 32 × 4 heads ≠ hidden_size 64');
    refusal({ ...base, num_key_value_heads: 3 }, 'heads must be a multiple of kvHeads');
    refusal({ ...base, hidden_size: undefined }, 'hidden_size: ');
  });

  it('transposes a block of rows at a time into the whole transpose', () => {
    const rows = 5;
    const cols = 7;
    const src = Float32Array.from({ length: rows * cols }, (_, i) => i);
    const whole = transposeRows(src, rows, cols, 0, cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expect(whole[j * rows + i]).toBe(src[i * cols + j]);
    const blocks = [transposeRows(src, rows, cols, 0, 3), transposeRows(src, rows, cols, 3, 6), transposeRows(src, rows, cols, 6, 7)];
    expect(Array.from(blocks.flatMap((b) => Array.from(b)))).toEqual(Array.from(whole));
  });
});
