/** Directories as meap wrote them before manifest version 2, for the tests that old output still reads. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../../core/hash.ts';
import { decodeShard, encodeShard } from '../../datasets/shards/codec.ts';
import { shardRow } from '../../datasets/shards/read.ts';
import { DATASET_INFO, DATASET_STATE } from '../../pipeline/hf-dataset.ts';
import { serializeManifest } from '../../pipeline/build-manifest.ts';
import { ManifestSchema, type ShardFormat } from '../../schemas/manifest.ts';

/**
 * A shard file rewritten with the same rows in `format`; returns the sha256 of its new bytes. A
 * version 1 shard is decoded only when its bytes match the sha256 in the manifest beside it.
 */
export function reencodeShard(file: string, format: ShardFormat): string {
  const bytes = fs.readFileSync(file);
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'manifest.json'), 'utf8')));
  const listed = manifest.shards.find((s) => s.file === path.basename(file));
  const shard = decodeShard(bytes, file, { sha256Matched: listed?.sha256 === sha256Hex(bytes) });
  const rows = Array.from({ length: shard.rows }, (_, r) => {
    const { inputIds, labels, positionIds } = shardRow(shard, r);
    return { input_ids: inputIds, labels, position_ids: positionIds };
  });
  const written = encodeShard(rows, format);
  fs.writeFileSync(file, written);
  return sha256Hex(written);
}

/**
 * Rewrites a finished version 2 directory in place as version 1 held it: the same rows in Arrow IPC
 * file-format shards, their sha256 in a version 1 manifest without `shardFormat`, and no Hugging Face
 * files. Returns `dir`.
 */
export function toVersion1(dir: string): string {
  const file = path.join(dir, 'manifest.json');
  const manifest = ManifestSchema.parse(JSON.parse(fs.readFileSync(file, 'utf8')));
  for (const entry of manifest.shards) entry.sha256 = reencodeShard(path.join(dir, entry.file), 'arrow-ipc-file');
  const { shardFormat: _, ...v1 } = { ...manifest, version: 1 as const };
  fs.writeFileSync(file, serializeManifest(v1));
  for (const name of [DATASET_INFO, DATASET_STATE]) fs.rmSync(path.join(dir, name));
  return dir;
}
