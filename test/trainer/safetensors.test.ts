/**
 * Safetensors: bitwise round trips of what the writer writes, the narrower dtypes read as float32,
 * huggingface_hub's shard split and index, and one-line refusals of damaged files.
 * (Transformers itself reads what this writes in test/interop/test_export.py.)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import {
  SafetensorsWriter,
  headerBytes,
  indexJson,
  planShards,
  readCheckpointTensors,
  readHeader,
  readTensorF32,
  toFloat32,
  type TensorSpec,
} from '../../trainer/safetensors.ts';
import { tempDir } from '../helpers/cli.ts';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

async function write(file: string, tensors: { name: string; shape: number[]; data: Float32Array }[], pieces = 1): Promise<void> {
  const w = await SafetensorsWriter.create(file, tensors);
  for (const t of tensors) {
    const step = Math.ceil(t.data.length / pieces);
    for (let o = 0; o < t.data.length; o += step) await w.append(t.data.subarray(o, o + step));
  }
  await w.close();
}

describe('safetensors', () => {
  it('writes float32 tensors a piece at a time and reads them back bitwise, header padded to 8 bytes', async () => {
    const file = path.join(tempDir(), 'model.safetensors');
    const odd = new Float32Array([0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4028234663852886e38, 1 / 3]);
    new Uint32Array(odd.buffer)[4] = 0x7fc12345; // a NaN payload survives
    const tensors = [
      { name: 'model.embed_tokens.weight', shape: [4, 2], data: odd },
      { name: 'model.norm.weight', shape: [3], data: new Float32Array([1, 2, 3]) },
      { name: 'lm_head.weight', shape: [2, 3], data: new Float32Array([6, 5, 4, 3, 2, 1]) },
    ];
    await write(file, tensors, 3);
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['model.norm.weight']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [32, 44] });
    expect(bytes.length).toBe(8 + n + 4 * (8 + 3 + 6));

    const read = await readHeader(file);
    expect(read.map((t) => [t.name, t.dtype, t.shape])).toEqual(tensors.map((t) => [t.name, 'F32', t.shape]));
    for (const [i, t] of read.entries()) expect(bits(await readTensorF32(t))).toEqual(bits(tensors[i].data));
  });

  it('refuses to write more or fewer bytes than the header promised', async () => {
    const dir = tempDir();
    const w = await SafetensorsWriter.create(path.join(dir, 'a.safetensors'), [{ name: 'x', shape: [2] }]);
    await expect(w.append(new Float32Array(3))).rejects.toThrow(/more than the header/);
    await expect(w.close()).rejects.toThrow(/of \d+ bytes written/);
  });

  it('reads BF16 and F16 as the float32 values they are', () => {
    const u16 = (xs: number[]) => new Uint8Array(Uint16Array.from(xs).buffer);
    expect(Array.from(toFloat32('BF16', u16([0x3f80, 0xc000, 0x7f80, 0x0001, 0x3eab])))).toEqual([1, -2, Infinity, Math.fround(9.183549615799121e-41), 0.333984375]);
    expect(Array.from(toFloat32('F16', u16([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0xfc00, 0x3555])))).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, -Infinity, 0.333251953125]);
    expect(toFloat32('F16', u16([0x7e00]))[0]).toBeNaN();
  });

  it('reads a tensor stored as BF16 through its header', async () => {
    const file = path.join(tempDir(), 'bf16.safetensors');
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }).padEnd(48, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    fs.writeFileSync(file, Buffer.concat([len, header, Buffer.from(Uint16Array.from([0x3f80, 0x4040]).buffer)]));
    const [t] = await readHeader(file);
    expect(Array.from(await readTensorF32(t))).toEqual([1, 3]);
  });

  it("splits as huggingface_hub does: in order, a new file past the limit, an oversized tensor alone", () => {
    // huggingface_hub's own example: sizes [6, 6, 2, 6, 2, 2] under 10 give [6], [6+2], [6+2+2].
    const t = (name: string, n: number): TensorSpec => ({ name, shape: [n] });
    const specs = [t('a', 6), t('b', 6), t('c', 2), t('d', 6), t('e', 2), t('f', 2)];
    expect(planShards(specs, 40).map((s) => [s.file, s.tensors.map((x) => x.name)])).toEqual([
      ['model-00001-of-00003.safetensors', ['a']],
      ['model-00002-of-00003.safetensors', ['b', 'c']],
      ['model-00003-of-00003.safetensors', ['d', 'e', 'f']],
    ]);
    // A tensor larger than the limit gets its file at once, while the current one goes on filling.
    expect(planShards([t('a', 2), t('big', 20), t('b', 2)], 16).map((s) => s.tensors.map((x) => x.name))).toEqual([['big'], ['a', 'b']]);
    expect(planShards(specs, 1e9).map((s) => s.file)).toEqual(['model.safetensors']);
    expect(JSON.parse(indexJson(planShards([t('b', 6), t('a', 6)], 24)))).toEqual({
      metadata: { total_parameters: 12, total_size: 48 },
      weight_map: { a: 'model-00002-of-00002.safetensors', b: 'model-00001-of-00002.safetensors' },
    });
    expect(indexJson(planShards([t('b', 6), t('a', 6)], 24))).toMatch(/^\{\n {2}"metadata": \{\n {4}"total_parameters"/);
  });

  it('reads a folder through model.safetensors.index.json, or model.safetensors', async () => {
    const dir = tempDir();
    await write(path.join(dir, 'model-00001-of-00002.safetensors'), [{ name: 'a', shape: [1], data: new Float32Array([1]) }]);
    await write(path.join(dir, 'model-00002-of-00002.safetensors'), [{ name: 'b', shape: [1], data: new Float32Array([2]) }]);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }));
    const got = await readCheckpointTensors(dir);
    expect([...got.keys()].sort()).toEqual(['a', 'b']);
    expect(Array.from(await readTensorF32(got.get('b')!))).toEqual([2]);

    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: 'model-00002-of-00002.safetensors' } }));
    await expect(readCheckpointTensors(dir)).rejects.toThrow(/the weight_map puts a in model-00002-of-00002.safetensors, which does not hold it/);
    await expect(readCheckpointTensors(tempDir())).rejects.toThrow(/no model.safetensors or model.safetensors.index.json/);
  });

  it('refuses a damaged file in one line that names it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'model.safetensors');
    await write(file, [{ name: 'w', shape: [4], data: new Float32Array(4) }]);
    const whole = fs.readFileSync(file);
    const refusal = async (bytes: Buffer, message: RegExp) => {
      fs.writeFileSync(file, bytes);
      const e = await readHeader(file).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(MeapError);
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).toContain(file);
      expect((e as Error).message).not.toContain('\n');
    };
    await refusal(whole.subarray(0, whole.length - 4), /tensor w ends at byte \d+, past the end of the file .* truncated/);
    await refusal(whole.subarray(0, 5), /shorter than its 8-byte header length/);
    const badJson = Buffer.from(whole);
    badJson[8] = 0x5b; // '['
    await refusal(badJson, /its header is not (JSON|a JSON object)/);
    const wrongSize = Buffer.concat([headerBytes([{ name: 'w', shape: [5] }]), Buffer.alloc(16)]);
    await refusal(wrongSize, /past the end of the file/);
    await expect(readHeader(path.join(dir, 'absent.safetensors'))).rejects.toThrow(/absent.safetensors: not found/);
    const f64 = Buffer.from(JSON.stringify({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }).padEnd(56, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(f64.length));
    fs.writeFileSync(file, Buffer.concat([len, f64, Buffer.alloc(8)]));
    const [t] = await readHeader(file);
    await expect(readTensorF32(t)).rejects.toThrow(/tensor w is F64 \(meap reads F32, BF16, F16 checkpoints\)/);
  });
});
