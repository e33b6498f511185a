/**
 * Durable output: shards and the manifest are written under a temporary name, fsynced, renamed into
 * place and the directory fsynced, so a file with its final name is always complete.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ManifestSchema, type Manifest, type ShardEntry } from '../schemas/manifest.ts';
import { encodeShard, type ShardRow } from './arrow.ts';
import { MeapError } from './errors.ts';

export const MANIFEST = 'manifest.json';
/** Work state of a run in progress; gone once the directory is complete. */
export const WORK_DIR = '.meap';

export const sha256Hex = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array | string): Promise<void> {
  const tmpDir = path.join(dir, WORK_DIR, 'tmp');
  await fs.mkdir(tmpDir, { recursive: true });
  const tmp = path.join(tmpDir, `${name}.partial`);
  await writeSynced(tmp, bytes, 'w');
  await fs.rename(tmp, path.join(dir, name));
  await fsyncDir(dir);
}

/** Writes and fsyncs a file; `flag` 'wx' refuses to replace an existing one. */
export async function writeSynced(file: string, bytes: Uint8Array | string, flag: 'w' | 'wx' = 'w'): Promise<void> {
  const fh = await fs.open(file, flag);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Shard names derive from the input's relative path and a counter: never from time or workers. */
export function shardName(inputRel: string, index: number): string {
  return `part-${sha256Hex(inputRel).slice(0, 16)}-${String(index).padStart(5, '0')}.arrow`;
}

export const isShardName = (name: string) => /^part-[0-9a-f]{16}-\d{5}\.arrow$/.test(name);

export interface MaskedRow extends ShardRow {
  masked: number;
}

/**
 * Collects one input's rows and writes a shard every `shardRows` rows. One write may be in flight
 * while the next shard fills, so an fsync does not stall tokenization.
 */
export class ShardWriter {
  private rows: MaskedRow[] = [];
  private readonly entries: ShardEntry[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string,
    private readonly inputRel: string,
    private readonly shardRows: number,
  ) {}

  async add(row: MaskedRow): Promise<void> {
    this.rows.push(row);
    if (this.rows.length === this.shardRows) await this.flush();
  }

  async finish(): Promise<ShardEntry[]> {
    if (this.rows.length > 0) await this.flush();
    await this.writing;
    return this.entries;
  }

  private async flush(): Promise<void> {
    const rows = this.rows;
    this.rows = [];
    const bytes = encodeShard(rows);
    const file = shardName(this.inputRel, this.entries.length);
    let tokens = 0;
    let maskedTokens = 0;
    for (const r of rows) {
      tokens += r.input_ids.length;
      maskedTokens += r.masked;
    }
    this.entries.push({ file, input: this.inputRel, rows: rows.length, tokens, maskedTokens, sha256: sha256Hex(bytes) });
    await this.writing;
    this.writing = writeFileAtomic(this.dir, file, bytes);
    this.writing.catch(() => {}); // surfaced by the next flush or by finish()
  }
}

/** Stable bytes: fixed key order comes from the schema-shaped objects we build, plus a final newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(ManifestSchema.parse(manifest), null, 2)}\n`;
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new MeapError('integrity', `cannot read the manifest: ${(e as NodeJS.ErrnoException).code ?? e}`, { file }, 'is this a finished `meap prepare` output directory?');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MeapError('integrity', 'the manifest is not valid JSON', { file });
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new MeapError('integrity', `the manifest does not match the schema at ${issue.path.join('.') || '(root)'}: ${issue.message}`, { file });
  }
  return parsed.data;
}
