/**
 * `--init`: a Hugging Face Llama folder (written here in Transformers' names and layouts) read back
 * as meap's weights, the [MASK] rows it gains, a tied head, and the one-line refusals: a missing
 * file, a config that is not a Llama, a shape mismatch, a vocabulary without room for [MASK], and
 * `--model` disagreeing. (A checkpoint Transformers itself saved is test/interop/test_init.py's.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { Rng } from '../../core/rng.ts';
import { PRESETS, type ModelShape } from '../../schemas/train.ts';
import { hfName, hfShape, llamaConfig, llamaParams, transposeRows } from '../../trainer/hf-llama.ts';
import { checkModelOption, checkVocabulary, growRows, openInit, type ShardVocabulary } from '../../trainer/init.ts';
import { SafetensorsWriter } from '../../trainer/safetensors.ts';
import { tempDir } from '../helpers/cli.ts';

const SHAPE: ModelShape = { layers: 1, hidden: 8, intermediate: 12, heads: 2, kvHeads: 1, ropeBase: 10000, normEps: 1e-5 };
const VOCAB: ShardVocabulary = { vocabSize: 100, maskTokenId: 100, vocabRows: 128 };

/** meap-layout weights with distinct values, so a transposed or swapped tensor shows. */
function meapWeights(rows: number): Map<string, Float32Array> {
  let x = 1;
  return new Map(
    llamaParams(SHAPE, rows).map((p) => [p.name, Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => (x = (x * 48271) % 2147483647) / 2147483647 - 0.5)]),
  );
}

interface Options {
  rows?: number;
  tied?: boolean;
  config?: Record<string, unknown>;
  extra?: string;
  tokenizer?: Record<number, string>;
}

/** A model folder as save_pretrained writes it: config.json and model.safetensors in Transformers' layouts. */
async function hfFolder(o: Options = {}): Promise<{ dir: string; weights: Map<string, Float32Array> }> {
  const rows = o.rows ?? 128;
  const dir = tempDir('meap-hf-');
  const weights = meapWeights(rows);
  const params = llamaParams(SHAPE, rows).filter((p) => !(o.tied && p.name === 'lm_head'));
  const tensors = params.map((p) => {
    const { hf, transpose } = hfName(p.name);
    return { name: hf, shape: hfShape(p.shape, transpose), data: transpose ? transposeRows(weights.get(p.name)!, p.shape[0], p.shape[1], 0, p.shape[1]) : weights.get(p.name)! };
  });
  if (o.extra !== undefined) tensors.push({ name: o.extra, shape: [SHAPE.hidden], data: new Float32Array(SHAPE.hidden) });
  const w = await SafetensorsWriter.create(path.join(dir, 'model.safetensors'), tensors);
  for (const t of tensors) await w.append(t.data);
  await w.close();
  const config = { ...llamaConfig({ shape: SHAPE, vocabRows: rows, bosId: 1, eosId: 2, maxPositionEmbeddings: 64 }), tie_word_embeddings: o.tied ?? false, ...o.config };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  if (o.tokenizer !== undefined) {
    const added = Object.entries(o.tokenizer).map(([id, content]) => ({ id: Number(id), content, special: true }));
    fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify({ added_tokens: added, model: { type: 'BPE', vocab: { a: 0 } } }));
  }
  return { dir, weights };
}

async function refusal(p: Promise<unknown>, ...parts: string[]): Promise<void> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(MeapError);
  const message = (e as Error).message;
  expect(message).not.toContain('\n');
  for (const part of parts) expect(message).toContain(part);
}

const byName = (ps: { name: string; data: Float32Array }[]) => new Map(ps.map((p) => [p.name, p.data]));

describe('--init', () => {
  it("reads a checkpoint in Transformers' layout back as meap's weights, bitwise", async () => {
    const { dir, weights } = await hfFolder({ tokenizer: { 100: '[MASK]' } });
    const init = await openInit(dir, VOCAB);
    expect(init.hf).toEqual({ shape: SHAPE, vocabSize: 128, tied: false, maxPositionEmbeddings: 64 });
    const got = await init.weights(0);
    expect(got.map((p) => [p.name, p.shape])).toEqual(llamaParams(SHAPE, 128).map((p) => [p.name, p.shape]));
    for (const p of got) expect(p.data, p.name).toEqual(weights.get(p.name));
  });

  it('grows the embedding and the LM head to the [MASK] rows: old rows kept, new ones the mean plus seeded noise', async () => {
    const { dir, weights } = await hfFolder({ rows: 100 });
    const init = await openInit(dir, VOCAB);
    expect([init.rows, init.vocabRows]).toEqual([100, 128]);
    const a = byName(await init.weights(3));
    const b = byName(await init.weights(3));
    const c = byName(await init.weights(4));
    const h = SHAPE.hidden;
    expect(a.get('embed')!.subarray(0, 100 * h)).toEqual(weights.get('embed'));
    expect(a.get('embed')).toEqual(b.get('embed'));
    expect(a.get('embed')).not.toEqual(c.get('embed'));
    // lm_head is [hidden, rows] in meap: its first 100 columns are the checkpoint's.
    const head = a.get('lm_head')!;
    const old = weights.get('lm_head')!;
    for (let i = 0; i < h; i++) expect(head.subarray(i * 128, i * 128 + 100)).toEqual(old.subarray(i * 100, i * 100 + 100));
    expect(a.get('layers.0.wq')).toEqual(weights.get('layers.0.wq'));
  });

  it('computes new rows as the README says', () => {
    const old = Float32Array.from([1, 10, 3, 20, 5, 60]); // 3 rows × 2: means 3 and 30, variances 8/3 and 1400/3
    const grown = growRows(old, 3, 5, 2, Rng.forRow(0, '0'.repeat(64), 0));
    expect(grown.subarray(0, 6)).toEqual(old);
    const sd = [Math.sqrt((1e-9 * 8) / 3), Math.sqrt((1e-9 * 1400) / 3)];
    const rng = Rng.forRow(0, '0'.repeat(64), 0);
    for (let r = 3; r < 5; r++) {
      for (let j = 0; j < 2; j++) {
        const z = Math.sqrt(-2 * Math.log((rng.nextU32() + 1) / 2 ** 32)) * Math.cos((2 * Math.PI * rng.nextU32()) / 2 ** 32);
        expect(grown[r * 2 + j]).toBe(Math.fround([3, 30][j] + sd[j] * z));
      }
    }
  });

  it('unties a tied head: the LM head is the grown embedding, as Transformers ties after resizing', async () => {
    const { dir } = await hfFolder({ rows: 100, tied: true });
    const got = byName(await (await openInit(dir, VOCAB)).weights(0));
    expect(got.get('lm_head')).toEqual(transposeRows(got.get('embed')!, 128, SHAPE.hidden, 0, SHAPE.hidden));
  });

  it('refuses a missing file, a config that is not a Llama, and a shape mismatch in one line', async () => {
    await refusal(openInit(tempDir(), VOCAB), 'config.json: not found', 'config.json and model.safetensors');
    const noWeights = await hfFolder();
    fs.rmSync(path.join(noWeights.dir, 'model.safetensors'));
    await refusal(openInit(noWeights.dir, VOCAB), `${noWeights.dir}: no model.safetensors or model.safetensors.index.json`);

    await refusal(openInit((await hfFolder({ config: { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] } })).dir, VOCAB), 'not a Llama checkpoint: model_type "gpt2" (GPT2LMHeadModel)');
    await refusal(openInit((await hfFolder({ config: { intermediate_size: 16 } })).dir, VOCAB), 'shape mismatch: model.layers.0.mlp.gate_proj.weight has shape [12,8], config.json makes it [16,8]');
    await refusal(openInit((await hfFolder({ config: { vocab_size: 120 } })).dir, VOCAB), 'shape mismatch: model.embed_tokens.weight has shape [128,8], config.json makes it [120,8]');
    await refusal(openInit((await hfFolder({ extra: 'model.layers.0.self_attn.q_proj.bias' })).dir, VOCAB), "holds model.layers.0.self_attn.q_proj.bias, which meap's Llama has no place for");
    await refusal(openInit((await hfFolder({ tied: true, config: { tie_word_embeddings: false } })).dir, VOCAB), 'no tensor lm_head.weight (and config.json says tie_word_embeddings false)');
    await refusal(openInit((await hfFolder({ rows: 64 })).dir, VOCAB), "the checkpoint's vocabulary has 64 rows, the shards' tokenizer 100 tokens");
    await refusal(openInit((await hfFolder({ rows: 192 })).dir, VOCAB), "the checkpoint's embedding has 192 rows, more than the 128 meap gives the shards' tokenizer (100 tokens and [MASK] at id 100");
  });

  it('has room for [MASK] only where nothing else is at its id', async () => {
    // The checkpoint's 101st row is a token of its own, or nothing says what it is.
    await refusal(openInit((await hfFolder({ rows: 101, tokenizer: { 100: '<pad>' } })).dir, VOCAB), 'no room for [MASK]: the shards put it at id 100, which is the checkpoint\'s token "<pad>"', '--tokenizer');
    await refusal(openInit((await hfFolder({ rows: 101 })).dir, VOCAB), 'no room for [MASK]', 'has no tokenizer.json that names it [MASK]', "put the checkpoint's tokenizer.json beside it");
    // A checkpoint that learned [MASK] there already (a meap export) starts as it is, padding rows grown.
    const ok = await openInit((await hfFolder({ rows: 101, tokenizer: { 100: '[MASK]' } })).dir, VOCAB);
    expect([ok.rows, ok.vocabRows]).toEqual([101, 128]);
    // The tokenizer's own [MASK] inside its vocabulary needs no room.
    expect(() => checkVocabulary('d', 101, { vocabSize: 101, maskTokenId: 7, vocabRows: 128 })).not.toThrow();
  });

  it('names the first field where --model and config.json disagree', () => {
    expect(() => checkModelOption('d', 'tiny', PRESETS.tiny, { ...PRESETS.tiny, ropeBase: 500000 })).toThrow('d: config.json has rope_theta 500000, --model tiny has ropeBase 10000');
    expect(() => checkModelOption('d', 'tiny', PRESETS.tiny, { ...PRESETS.tiny, layers: 4, hidden: 128 })).toThrow('config.json has num_hidden_layers 4, --model tiny has layers 2');
    expect(() => checkModelOption('d', 'tiny', PRESETS.tiny, PRESETS.tiny)).not.toThrow();
  });
});
