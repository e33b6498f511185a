/**
 * Reading a finished `meap prepare` directory back: its manifest, and its shards checked against
 * the manifest. The one module through which the trainer, verify and inspect read shards, so that
 * every reader refuses the same damaged or foreign directories with the same one-line errors.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { firstIssue, MeapError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/hash.ts';
import { meapCommand } from '../../core/shell.ts';
import { ManifestSchema, type Manifest, type ShardFormat } from '../../schemas/manifest.ts';
import { RelativePath } from '../../schemas/primitives.ts';
import { decodeShard, type DecodedShard } from './codec.ts';

export const MANIFEST = 'manifest.json';

/** `damagedHint`: what to do about a manifest that is not valid JSON or breaks the schema (by default, run `meap verify`). */
export async function readManifest(dir: string, damagedHint = VERIFY_HINT(dir)): Promise<Manifest> {
  const file = path.join(dir, MANIFEST);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw await notOutput(dir, (e as NodeJS.ErrnoException).code);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new MeapError('integrity', 'the manifest is not valid JSON', { file }, damagedHint);
  }
  // Another tool's manifest.json names no meap format: a wrong directory (2), not a damaged one (1).
  if (json === null || typeof json !== 'object' || (json as { format?: unknown }).format !== 'meap-shards') {
    throw new MeapError('usage', 'not a meap output directory: its manifest.json is not meap\'s', { file: dir }, 'pass a directory that `meap prepare` wrote');
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const { at, message } = firstIssue(parsed.error);
    throw new MeapError('integrity', `the manifest does not match the schema at ${at || '(root)'}: ${message}`, { file }, damagedHint);
  }
  return parsed.data;
}

/** What a damaged directory's errors point to: the one command that names every bad file. */
const VERIFY_HINT = (dir: string) => `run \`meap verify ${dir}\` to check every shard, then prepare the directory again`;

/**
 * A directory without a manifest is the user's mistake (exit 2), not damage: nothing at all, an
 * unfinished run, or something else.
 */
async function notOutput(dir: string, code: string | undefined): Promise<MeapError> {
  if (code !== 'ENOENT') return new MeapError('usage', `not a meap output directory: its manifest cannot be read (${code})`, { file: dir });
  const entries = await fs.readdir(dir).catch(() => null);
  if (entries === null) return new MeapError('usage', 'no such directory', { file: dir }, 'pass a directory that `meap prepare` wrote');
  if (entries.includes('.meap')) {
    return new MeapError('usage', 'the directory holds an unfinished `meap prepare` (no manifest.json yet)', { file: dir }, `\`${meapCommand(['status', dir])}\` shows what is done and the command that finishes it`);
  }
  return new MeapError('usage', 'not a meap output directory (no manifest.json)', { file: dir }, 'pass a directory that `meap prepare` wrote');
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
    throw new MeapError('integrity', `cannot read the shard: ${(e as NodeJS.ErrnoException).code ?? e}`, { file }, VERIFY_HINT(path.dirname(file)));
  }
  // Checked before decoding, so that a changed shard is named as changed, and a version 1 shard's
  // bytes reach apache-arrow (which can loop on damaged ones) only when they are the ones prepare wrote.
  if (expect.sha256 !== undefined && sha256Hex(bytes) !== expect.sha256) {
    throw new MeapError('integrity', 'the shard does not match the sha256 in its manifest: it changed after `meap prepare`', { file }, VERIFY_HINT(path.dirname(file)));
  }
  const shard = decodeShard(bytes, file, { sha256Matched: expect.sha256 !== undefined, hint: VERIFY_HINT(path.dirname(file)) });
  if (expect.rows !== undefined && shard.rows !== expect.rows) {
    throw new MeapError('integrity', `the shard holds ${shard.rows} rows, its manifest says ${expect.rows}`, { file }, VERIFY_HINT(path.dirname(file)));
  }
  return shard;
}

/** Row `r` of a decoded shard, one array per column. */
export function shardRow(shard: DecodedShard, r: number): { inputIds: Int32Array; labels: Int32Array; positionIds: Int32Array } {
  const col = (c: keyof DecodedShard['columns']) => shard.columns[c].values.subarray(shard.columns[c].offsets[r], shard.columns[c].offsets[r + 1]);
  return { inputIds: col('input_ids'), labels: col('labels'), positionIds: col('position_ids') };
}
