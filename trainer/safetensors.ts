/**
 * Safetensors, the format of Hugging Face checkpoints: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the tensors' raw
 * little-endian bytes. Past a size a checkpoint is split into model-00001-of-0000N.safetensors files
 * named by model.safetensors.index.json, exactly as huggingface_hub's `split_torch_state_dict_into_shards`
 * does for `save_pretrained`.
 *
 * Hand-rolled: npm has no maintained safetensors library (`safetensors` is a 0.0.1 placeholder and
 * @huggingface/hub reads remote headers only), the format is a page long, and both directions must
 * move one tensor at a time to keep memory bounded.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError, parseOrThrow, readJsonObject } from '../core/errors.ts';
import { readAt, writeAt } from '../core/file-range.ts';
import { SafetensorsEntrySchema, SafetensorsIndexSchema, SafetensorsMetadataSchema } from '../schemas/hf-model.ts';
import { LITTLE_ENDIAN, leBytes } from './le-float32.ts';

export const SAFETENSORS = 'model.safetensors';
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
/** What `save_pretrained` writes, and what Transformers' loader expects of a PyTorch checkpoint. */
export const METADATA = { format: 'pt' };

/** The Rust reader refuses larger headers (a corrupt length would otherwise allocate gigabytes). */
const MAX_HEADER = 100_000_000;
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };
/** The dtypes meap reads (as float32); Hugging Face Llama checkpoints come in all three. */
export const READABLE_DTYPES = ['F32', 'BF16', 'F16'] as const;

export interface StoredTensor {
  name: string;
  file: string;
  dtype: string;
  shape: number[];
  /** The tensor's bytes in the file, [begin, end). */
  begin: number;
  end: number;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const bad = (file: string, what: string, hint?: string) => new MeapError('config', what, { file }, hint);

/** One file's tensors, each checked against its dtype and the file's size. */
export async function readHeader(file: string): Promise<StoredTensor[]> {
  const fh = await fs.open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw bad(file, e.code === 'ENOENT' ? 'not found' : `cannot be read (${e.code ?? e.message})`);
  });
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(8);
    if (size < 8 || (await fh.read(head, 0, 8, 0)).bytesRead < 8) throw bad(file, 'not a safetensors file: shorter than its 8-byte header length');
    const n = Number(head.readBigUInt64LE(0));
    if (n > MAX_HEADER || 8 + n > size) throw bad(file, `not a safetensors file: a header of ${n} bytes in a file of ${size}`);
    const text = Buffer.alloc(n);
    await fh.read(text, 0, n, 8);
    let json: unknown;
    try {
      json = JSON.parse(text.toString('utf8'));
    } catch (e) {
      throw bad(file, `not a safetensors file: its header is not JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad(file, 'not a safetensors file: its header is not a JSON object');
    const start = 8 + n;
    const tensors: StoredTensor[] = [];
    for (const [name, value] of Object.entries(json)) {
      if (name === '__metadata__') {
        parseOrThrow(SafetensorsMetadataSchema, value, (at, message) => bad(file, `__metadata__ ${at}: ${message}`));
        continue;
      }
      const e = parseOrThrow(SafetensorsEntrySchema, value, (at, message) => bad(file, `tensor ${name}: ${at || 'entry'}: ${message}`));
      const [b, en] = e.data_offsets;
      const width = DTYPE_BYTES[e.dtype];
      if (width !== undefined && en - b !== numel(e.shape) * width) {
        throw bad(file, `tensor ${name}: ${e.dtype} of shape [${e.shape}] needs ${numel(e.shape) * width} bytes, its data_offsets hold ${en - b}`);
      }
      if (start + en > size) throw bad(file, `tensor ${name} ends at byte ${start + en}, past the end of the file (${size} bytes); the file is truncated`);
      tensors.push({ name, file, dtype: e.dtype, shape: e.shape, begin: start + b, end: start + en });
    }
    return tensors;
  } finally {
    await fh.close();
  }
}

/**
 * Every tensor of a model folder, by name: model.safetensors.index.json and the files it names, or
 * else model.safetensors.
 */
export async function readCheckpointTensors(dir: string): Promise<Map<string, StoredTensor>> {
  const indexFile = path.join(dir, SAFETENSORS_INDEX);
  const json = await readJsonObject(indexFile, (reason) => bad(indexFile, reason), { optional: true });
  const out = new Map<string, StoredTensor>();
  if (json === null) {
    const single = path.join(dir, SAFETENSORS);
    const exists = await fs.access(single).then(() => true, () => false);
    if (!exists) {
      throw bad(dir, `no ${SAFETENSORS} or ${SAFETENSORS_INDEX}`, "meap reads safetensors checkpoints; save the model with Transformers' save_pretrained");
    }
    for (const t of await readHeader(single)) out.set(t.name, t);
    return out;
  }
  const index = parseOrThrow(SafetensorsIndexSchema, json, (at, message) => bad(indexFile, `${at || 'file'}: ${message}`));
  const files = [...new Set(Object.values(index.weight_map))];
  for (const f of files) {
    for (const t of await readHeader(path.join(dir, f))) out.set(t.name, t);
  }
  for (const [name, f] of Object.entries(index.weight_map)) {
    if (out.get(name)?.file !== path.join(dir, f)) throw bad(indexFile, `the weight_map puts ${name} in ${f}, which does not hold it`);
  }
  return out;
}

/** A stored tensor as float32, whatever of READABLE_DTYPES it is stored in. */
export async function readTensorF32(t: StoredTensor): Promise<Float32Array> {
  if (!(READABLE_DTYPES as readonly string[]).includes(t.dtype)) {
    throw bad(t.file, `tensor ${t.name} is ${t.dtype}`, `meap reads ${READABLE_DTYPES.join(', ')} checkpoints`);
  }
  const raw = new Uint8Array(t.end - t.begin);
  const fh = await fs.open(t.file, 'r');
  try {
    if ((await readAt(fh, raw, t.begin)) < raw.length) throw bad(t.file, `tensor ${t.name}: the file ended early`);
  } finally {
    await fh.close();
  }
  return toFloat32(t.dtype as (typeof READABLE_DTYPES)[number], raw);
}

/** Little-endian F32, BF16 or F16 bytes as float32 (exact: both narrower types are subsets of float32). */
export function toFloat32(dtype: (typeof READABLE_DTYPES)[number], raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (dtype === 'F32') {
    if (LITTLE_ENDIAN && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    const out = new Float32Array(raw.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const n = raw.length / 2;
  const out = new Float32Array(n);
  if (dtype === 'BF16') {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A float32 tensor to write: its name and shape. */
export interface TensorSpec {
  name: string;
  shape: readonly number[];
}

export const f32Bytes = (shape: readonly number[]) => 4 * numel(shape);

/**
 * huggingface_hub's split, on tensors in the order given: a tensor starts a new file when it would
 * take the current one past `maxBytes`, a tensor larger than `maxBytes` gets a file of its own, and
 * one file is model.safetensors, several model-0000i-of-0000N.safetensors.
 */
export function planShards(tensors: readonly TensorSpec[], maxBytes: number): { file: string; tensors: TensorSpec[] }[] {
  const groups: TensorSpec[][] = [];
  let current: TensorSpec[] = [];
  let size = 0;
  for (const t of tensors) {
    const bytes = f32Bytes(t.shape);
    if (bytes > maxBytes) {
      groups.push([t]);
      continue;
    }
    if (size + bytes > maxBytes) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  return groups.map((g, i) => ({ file: n === 1 ? SAFETENSORS : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`, tensors: g }));
}

/** model.safetensors.index.json as `save_pretrained` writes it: sorted keys, two-space indent. */
export function indexJson(shards: readonly { file: string; tensors: readonly TensorSpec[] }[]): string {
  const all = shards.flatMap((s) => s.tensors.map((t) => ({ ...t, file: s.file })));
  const weightMap = Object.fromEntries(all.map((t) => [t.name, t.file]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const metadata = { total_parameters: all.reduce((n, t) => n + numel(t.shape), 0), total_size: all.reduce((n, t) => n + f32Bytes(t.shape), 0) };
  return `${JSON.stringify({ metadata, weight_map: weightMap }, null, 2)}\n`;
}

/** The header of a file of float32 tensors, laid out in the order given, padded to 8 bytes as the Rust writer does. */
export function headerBytes(tensors: readonly TensorSpec[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: METADATA };
  let offset = 0;
  for (const t of tensors) {
    const bytes = f32Bytes(t.shape);
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Buffer.alloc(json.length + ((8 - (json.length % 8)) % 8), 0x20);
  json.copy(padded);
  const out = Buffer.alloc(8 + padded.length);
  out.writeBigUInt64LE(BigInt(padded.length), 0);
  padded.copy(out, 8);
  return out;
}

/**
 * A safetensors file of float32 tensors written in order, a piece at a time: the header first (the
 * shapes are known up front), then the values as they come. `close` checks that every byte came,
 * and fsyncs.
 */
export class SafetensorsWriter {
  private pos: number;

  private constructor(
    private readonly fh: fs.FileHandle,
    private readonly file: string,
    private readonly total: number,
  ) {
    this.pos = 0;
  }

  static async create(file: string, tensors: readonly TensorSpec[]): Promise<SafetensorsWriter> {
    const header = headerBytes(tensors);
    const fh = await fs.open(file, 'wx');
    const w = new SafetensorsWriter(fh, file, header.length + tensors.reduce((n, t) => n + f32Bytes(t.shape), 0));
    await w.write(header);
    return w;
  }

  /** The next values, little-endian. */
  append(values: Float32Array): Promise<void> {
    return this.write(leBytes(values));
  }

  async close(): Promise<void> {
    try {
      if (this.pos !== this.total) throw new Error(`${this.file}: ${this.pos} of ${this.total} bytes written`);
      await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  private async write(bytes: Uint8Array): Promise<void> {
    if (this.pos + bytes.length > this.total) throw new Error(`${this.file}: more than the header's ${this.total} bytes written`);
    await writeAt(this.fh, bytes, this.pos);
    this.pos += bytes.length;
  }
}
