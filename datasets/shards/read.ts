/**
 * Reading a finished `meap prepare` directory back: its manifest, and its shards checked against
 * the manifest. The one module through which the trainer, verify and inspect read shards, so that
 * every reader refuses the same damaged or foreign directories with the same one-line errors.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { firstIssue, MeapError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { ManifestSchema, type Manifest, type ShardFormat } from '../../schemas/manifest.ts';
import { RelativePath } from '../../schemas/primitives.ts';
import { decodeShard, type DecodedShard } from './codec.ts';

export const MANIFEST = 'manifest.json';

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
    const { at, message } = firstIssue(parsed.error);
    throw new MeapError('integrity', `the manifest does not match the schema at ${at || '(root)'}: ${message}`, { file });
  }
  return parsed.data;
}

/** Version 1 manifests predate `shardFormat`: every meap that wrote them wrote Arrow IPC files. */
export const shardFormatOf = (m: Manifest): ShardFormat => m.shardFormat ?? 'arrow-ipc-file';

/** A shard file named by a manifest, refused when the name would leave its directory. */
export function shardPath(dir: string, file: string): string {
  if (!RelativePath.safeParse(file).success) {
    throw new MeapError('integrity', 'shard path is absolute or leaves the directory', { file });
  }
  return path.join(dir, file);
}

export interface ShardCheck {
  /** The manifest's sha256 of the file: the only proof that it is the shard prepare wrote. */
  sha256?: string;
  /** The manifest's row count. */
  rows?: number;
}

/** One shard decoded; `file` is what errors name. */
export async function readShard(file: string, expect: ShardCheck = {}): Promise<DecodedShard> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new MeapError('integrity', `cannot read the shard: ${(e as NodeJS.ErrnoException).code ?? e}`, { file });
  }
  if (expect.sha256 !== undefined && sha256Hex(bytes) !== expect.sha256) {
    throw new MeapError('integrity', 'the shard does not match the sha256 in its manifest', { file }, 'the file changed after `meap prepare`; prepare it again');
  }
  let shard: DecodedShard;
  try {
    shard = decodeShard(bytes);
  } catch (e) {
    throw new MeapError('integrity', `not a meap shard: ${(e as Error).message}`, { file });
  }
  if (expect.rows !== undefined && shard.rows !== expect.rows) {
    throw new MeapError('integrity', `the shard holds ${shard.rows} rows, its manifest says ${expect.rows}`, { file });
  }
  return shard;
}

/** Row `r` of a decoded shard, one array per column. */
export function shardRow(shard: DecodedShard, r: number): { inputIds: Int32Array; labels: Int32Array; positionIds: Int32Array } {
  const col = (c: keyof DecodedShard['columns']) => shard.columns[c].values.subarray(shard.columns[c].offsets[r], shard.columns[c].offsets[r + 1]);
  return { inputIds: col('input_ids'), labels: col('labels'), positionIds: col('position_ids') };
}
