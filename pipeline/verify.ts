/**
 * `meap verify`: everything the manifest claims is re-derived from the shard bytes, and a version 2
 * directory's Hugging Face `datasets` files from the manifest. Collects every problem instead of
 * stopping at the first, so one run names every bad file.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { IntegrityError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { decodeShard, ipcFormatOf, type DecodedShard } from '../datasets/shards/codec.ts';
import { MANIFEST, shardFormatOf } from '../datasets/shards/read.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { RelativePath } from '../schemas/primitives.ts';
import { hfDatasetFiles, isHfCacheFile } from './hf-dataset.ts';
import { readFinishedManifest } from './workstate/status.ts';

export interface VerifyReport {
  manifest: Manifest;
  /** Every problem found, each naming its file relative to the directory; none means verified. */
  problems: { file: string; problem: string }[];
  /** Hugging Face `datasets` cache files beside the shards: not part of the dataset, not a problem. */
  hfCacheFiles: string[];
}

export async function verify(dir: string): Promise<VerifyReport> {
  // Verify cannot check shards against a damaged manifest, so it must not send the user back to itself.
  const manifest = await readFinishedManifest(dir, 'prepare the directory again, or restore its manifest.json from a copy');
  const problems: VerifyReport['problems'] = [];
  const bad = (file: string, problem: string) => problems.push({ file, problem });

  for (const entry of manifest.shards) {
    const file = entry.file;
    if (!RelativePath.safeParse(file).success) {
      bad(file, 'path is absolute or leaves the directory');
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(path.join(dir, file));
    } catch (e) {
      bad(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(e as NodeJS.ErrnoException).code})`);
      continue;
    }
    const sha = sha256Hex(bytes);
    if (sha !== entry.sha256) bad(file, `sha256 is ${sha.slice(0, 12)}…, the manifest says ${entry.sha256.slice(0, 12)}…`);
    const format = ipcFormatOf(bytes);
    if (format !== shardFormatOf(manifest)) bad(file, `is ${format === null ? 'not Arrow IPC' : `in the ${format} format`}, the manifest says ${shardFormatOf(manifest)}`);
    // Counted from proven bytes only: a changed shard is named above, and a version 1 shard's
    // reader (apache-arrow) can loop on bytes that are not the ones prepare wrote.
    if (sha !== entry.sha256) continue;
    let counts;
    try {
      counts = countShard(decodeShard(bytes, file, { sha256Matched: true }), manifest.seqLen, manifest.tokenizer.maskTokenId);
    } catch (e) {
      if (e instanceof IntegrityError) bad(file, e.where.byte === undefined ? e.what : `at byte ${e.where.byte}: ${e.what}`);
      else bad(file, `not a valid meap shard: ${(e as Error).message}`);
      continue;
    }
    for (const key of ['rows', 'tokens', 'maskedTokens'] as const) {
      if (counts[key] !== entry[key]) bad(file, `holds ${counts[key]} ${key}, the manifest says ${entry[key]}`);
    }
  }
  checkTotals(manifest, bad);
  const hfFiles = manifest.version === 2 ? await checkHfFiles(dir, manifest, bad) : [];
  const listed = new Set([MANIFEST, ...hfFiles, ...manifest.shards.map((s) => s.file)]);
  const hfCacheFiles: string[] = [];
  for (const name of (await fs.readdir(dir)).sort()) {
    if (isHfCacheFile(name) && !listed.has(name)) hfCacheFiles.push(name);
    else if (!listed.has(name)) bad(name, 'is not listed in the manifest (left over from another run?)');
  }

  return { manifest, problems, hfCacheFiles };
}

/** Masked tokens are counted as [MASK] ids in input_ids: text never produces that id. */
function countShard(shard: DecodedShard, seqLen: number, maskTokenId: number) {
  const { input_ids: input, labels, position_ids: positions } = shard.columns;
  let maskedTokens = 0;
  for (let r = 0; r < shard.rows; r++) {
    const len = input.offsets[r + 1] - input.offsets[r];
    for (const col of [labels, positions]) {
      if (col.offsets[r + 1] - col.offsets[r] !== len) throw new Error(`row ${r}: columns have different lengths`);
    }
    if (len > seqLen) throw new Error(`row ${r} has ${len} tokens, more than seqLen ${seqLen}`);
  }
  for (let i = 0; i < input.values.length; i++) if (input.values[i] === maskTokenId) maskedTokens++;
  return { rows: shard.rows, tokens: input.values.length, maskedTokens };
}

/** The files `datasets.load_from_disk` reads must be exactly what the manifest gives; returns their names. */
async function checkHfFiles(dir: string, m: Manifest, bad: (f: string, p: string) => void): Promise<string[]> {
  const expected = hfDatasetFiles(m, await fs.readFile(path.join(dir, MANIFEST), 'utf8'));
  for (const [name, text] of Object.entries(expected)) {
    const actual = await fs.readFile(path.join(dir, name), 'utf8').catch((e: NodeJS.ErrnoException) => e);
    if (actual instanceof Error) bad(name, actual.code === 'ENOENT' ? 'missing' : `unreadable (${actual.code})`);
    else if (actual !== text) bad(name, `${firstDifference(actual, text)} is not what the manifest gives; prepare the directory again`);
  }
  return Object.keys(expected);
}

/** The first top-level key whose value differs, or the whole file when it does not parse as an object. */
function firstDifference(actual: string, expected: string): string {
  let a: unknown;
  try {
    a = JSON.parse(actual);
  } catch {
    return 'the file';
  }
  if (a === null || typeof a !== 'object') return 'the file';
  const e = JSON.parse(expected) as Record<string, unknown>;
  const key = Object.keys(e).find((k) => JSON.stringify((a as Record<string, unknown>)[k]) !== JSON.stringify(e[k]));
  return key === undefined ? 'its layout' : key;
}

function checkTotals(m: Manifest, bad: (f: string, p: string) => void) {
  for (const key of ['rows', 'tokens', 'maskedTokens'] as const) {
    const listed = m.shards.reduce((s, x) => s + x[key], 0);
    if (m.totals[key] !== listed) bad(MANIFEST, `totals.${key} is ${m.totals[key]}, its shards add up to ${listed}`);
  }
  const [key, listed, total] =
    m.mode === 'pretrain'
      ? (['documents', m.inputs.reduce((s, x) => s + x.documents, 0), m.totals.documents] as const)
      : (['examples', m.inputs.reduce((s, x) => s + x.examples, 0), m.totals.examples] as const);
  if (total !== listed) bad(MANIFEST, `totals.${key} is ${total}, its inputs add up to ${listed}`);
}
