/**
 * `meap export` through the CLI on a run of the tiny model: the files, the tensors in Transformers'
 * layout bit for bit, shards with an index, and the refusals (no such step, a non-empty --out, no
 * tokenizer, the wrong tokenizer, a corrupt blob), each one line with nothing left behind.
 * Transformers loads the result in test/interop/test_export.py.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadLatestCheckpoint } from '../../trainer/checkpoint.ts';
import { hfName, transposeRows } from '../../trainer/hf-llama.ts';
import { readCheckpointTensors, readTensorF32 } from '../../trainer/safetensors.ts';
import { gpt2, llama2, meap, slimpajama, tempDir } from '../helpers/cli.ts';

let cache: string;
let run: string;
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

beforeAll(() => {
  cache = tempDir('meap-cache-');
  const shards = path.join(tempDir(), 'shards');
  let r = meap(['prepare', slimpajama('chunk_0.jsonl'), '--out', shards, '--tokenizer', llama2, '--seq-len', '32', '--limit', '2', '--progress', 'none'], { MEAP_CACHE: cache });
  expect(r.code, r.stderr).toBe(0);
  run = path.join(tempDir(), 'run');
  r = meap(['train', '--data', shards, '--out', run, '--steps', '1', '--batch-size', '2', '--backend', 'cpu', '--progress', 'none']);
  expect(r.code, r.stderr).toBe(0);
});

const exportRun = (args: string[], env: NodeJS.ProcessEnv = { MEAP_CACHE: cache }) => meap(['export', run, ...args], env);

function oneLine(r: ReturnType<typeof meap>, code: number, message: string): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  expect(r.stderr).toContain(`meap: error: `);
  expect(r.stderr).toContain(message);
}

/** Every exported tensor equals the checkpoint's parameter, transposed where Transformers' layout is. */
async function expectCheckpointTensors(dir: string): Promise<void> {
  const ckpt = (await loadLatestCheckpoint(run))!;
  const stored = await readCheckpointTensors(dir);
  expect(stored.size).toBe(ckpt.params.length);
  for (const p of ckpt.params) {
    const { hf, transpose } = hfName(p.name);
    const t = stored.get(hf)!;
    expect(t.shape).toEqual(transpose ? [p.shape[1], p.shape[0]] : p.shape);
    const want = transpose ? transposeRows(p.data, p.shape[0], p.shape[1], 0, p.shape[1]) : p.data;
    // Buffer equality: vitest's deep equality takes seconds on millions of values.
    expect(bytes(await readTensorF32(t)).equals(bytes(want)), p.name).toBe(true);
  }
}

describe('meap export', () => {
  it("writes the latest checkpoint as a Hugging Face Llama folder, tensors in Transformers' layout bit for bit", async () => {
    const out = path.join(tempDir(), 'hf');
    const r = exportRun(['--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${out}: LlamaForCausalLM from ${run} (step 1): 21 tensors, 4,195,136 parameters in model.safetensors; config.json, generation_config.json and the tokenizer files written\n`);
    expect(fs.readdirSync(out).sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ vocab_size: 32064, hidden_size: 64, num_key_value_heads: 2, bos_token_id: 1, eos_token_id: 2, max_position_embeddings: 32 });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'generation_config.json'), 'utf8'))).toEqual({ bos_token_id: 1, eos_token_id: 2 });
    expect(JSON.parse(fs.readFileSync(path.join(out, 'tokenizer_config.json'), 'utf8')).mask_token).toBe('[MASK]');
    await expectCheckpointTensors(out);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['hf']);
  });

  it('shards past --max-shard-size, with model.safetensors.index.json', async () => {
    const out = path.join(tempDir(), 'hf');
    const r = exportRun(['--out', out, '--max-shard-size', '1MB']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('in 3 files with model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(path.join(out, 'model.safetensors.index.json'), 'utf8'));
    expect([...new Set(Object.values(index.weight_map))].sort()).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expect(index.metadata).toEqual({ total_parameters: 4195136, total_size: 4 * 4195136 });
    await expectCheckpointTensors(out);
  });

  it('falls back to the tokenizer for the ids of a checkpoint that predates them', () => {
    const old = path.join(tempDir(), 'old');
    fs.cpSync(run, old, { recursive: true });
    const state = path.join(old, 'checkpoints', 'step-00000001', 'state.json');
    const json = JSON.parse(fs.readFileSync(state, 'utf8'));
    for (const k of ['tokenizer', 'seqLen', 'maxPositionEmbeddings', 'init']) delete json.extra[k];
    fs.writeFileSync(state, JSON.stringify(json));
    const out = path.join(tempDir(), 'hf');
    const r = meap(['export', old, '--out', out, '--tokenizer', path.dirname(llama2)]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2, max_position_embeddings: 2048 });
  });

  it('refuses in one line, and leaves nothing behind', () => {
    const parent = tempDir();
    const out = path.join(parent, 'hf');
    oneLine(exportRun(['--out', out, '--step', '5']), 2, `${run}: no checkpoint of step 5 (the run has steps 1)`);
    oneLine(meap(['export', tempDir(), '--out', out]), 2, 'no checkpoint in the run directory');
    oneLine(exportRun(['--out', out], {}), 2, "no copy of the run's tokenizer (sha256 b6fa577798fd…) is cached here (pass --tokenizer PATH");
    oneLine(exportRun(['--out', out, '--tokenizer', gpt2]), 2, `${gpt2}: this tokenizer has sha256`);
    oneLine(exportRun(['--out', out, '--max-shard-size', 'lots']), 2, 'invalid option --max-shard-size: write a size such as 50GB');
    expect(fs.readdirSync(parent)).toEqual([]);

    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'mine');
    oneLine(exportRun(['--out', out]), 2, `${out}: the output directory is not empty`);
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);
  });

  it('refuses a checkpoint whose blob does not match its sha256 (exit 1), and publishes nothing', () => {
    const bad = path.join(tempDir(), 'bad');
    fs.cpSync(run, bad, { recursive: true });
    const blob = path.join(bad, 'checkpoints', 'step-00000001', 'tensors.bin');
    const bytes = fs.readFileSync(blob);
    bytes[bytes.length - 1] ^= 1; // in the AdamW moments: the parameters themselves read fine
    fs.writeFileSync(blob, bytes);
    const parent = tempDir();
    oneLine(meap(['export', bad, '--out', path.join(parent, 'hf')], { MEAP_CACHE: cache }), 1, 'tensors.bin does not match the sha256 in state.json (pass --step N for another checkpoint)');
    expect(fs.readdirSync(parent)).toEqual([]);
  });
});
