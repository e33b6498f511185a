/**
 * The manifest, built from the completion records of every input in input order, so that a
 * directory prepared by one process or by N partitions plus `meap merge` is byte-identical; and the
 * Hugging Face `datasets` files derived from it. A run that wrote no row, or whose --exclude-set
 * matched nothing, is refused here, where every partition's records meet (test/e2e/no-silent-inputs.test.ts).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { MeapError } from '../core/errors.ts';
import { SHARD_FORMAT } from '../datasets/shards/stream.ts';
import { MANIFEST, readManifest } from '../datasets/shards/read.ts';
import { ManifestSchema, type Manifest } from '../schemas/manifest.ts';
import type { PretrainSettings, RunSettings, SftSettings } from '../schemas/settings.ts';
import type { UnitResult } from '../schemas/workstate.ts';
import { hfDatasetFiles } from './hf-dataset.ts';
import { maskShortfall } from './mask-share.ts';
import { discardWork } from './outdir.ts';
import { isShardName } from './shards.ts';
import { removeWorkDir, writeOutputFile } from './workstate/dir.ts';
import { readRunFile, readUnitResult } from './workstate/run-records.ts';

/**
 * `meap merge` (and the end of a single-partition run): every input's completion record → the
 * manifest, in input order, so the result is byte-identical to a single-process run.
 */
export async function merge(dir: string): Promise<Manifest> {
  const run = await readRunFile(dir);
  if (run === null) {
    if (await fs.access(path.join(dir, MANIFEST)).then(() => true, () => false)) return readManifest(dir);
    throw new MeapError('usage', 'no meap work state here', { file: dir }, 'run `meap prepare` into this directory first');
  }
  const units: UnitResult[] = [];
  const missing: string[] = [];
  for (const rel of run.inputs) {
    const u = await readUnitResult(dir, rel);
    if (u === null) missing.push(rel);
    else units.push(u);
  }
  if (missing.length > 0) {
    throw new MeapError('usage', `${missing.length} of ${run.inputs.length} inputs are not finished (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`, { file: dir }, 'run the remaining partitions of `meap prepare` first');
  }
  const manifest = run.settings.mode === 'sft' ? sftManifest(run.settings, units) : pretrainManifest(run.settings, units);
  const refusal = nothingWritten(manifest, dir) ?? unmatchedSets(run.settings, units);
  if (refusal !== null) {
    // A result other than the one asked for is not kept: the corrected command then starts clean,
    // without --overwrite, and nothing here can pass for finished output.
    await discardWork(dir);
    throw refusal;
  }
  // Shards of an earlier, overwritten attempt that no record lists would make the directory ambiguous.
  const listed = new Set(manifest.shards.map((s) => s.file));
  for (const name of await fs.readdir(dir)) if (isShardName(name) && !listed.has(name)) await fs.rm(path.join(dir, name), { force: true });
  const text = serializeManifest(manifest);
  // The manifest last: it is what marks the directory finished.
  for (const [name, content] of Object.entries(hfDatasetFiles(manifest, text))) await writeOutputFile(dir, name, content);
  await writeOutputFile(dir, MANIFEST, text);
  await removeWorkDir(dir);
  return manifest;
}

/** A run that wrote no row exits 2, saying why: an exit 0 would pass for a dataset. */
function nothingWritten(m: Manifest, dir: string): MeapError | null {
  if (m.totals.rows > 0) return null;
  const records = m.inputs.reduce((s, i) => s + i.records, 0);
  const skipped = Object.entries(m.totals.skipped);
  const what =
    skipped.length === 0
      ? `no rows written: ${m.inputs.length === 1 ? 'the input holds no record' : `none of the ${m.inputs.length} inputs holds a record`}`
      : `no rows written: none of the ${records} ${records === 1 ? 'record' : 'records'} read was kept (${skipped.map(([k, v]) => `${k} ${v}`).join(', ')})`;
  return new MeapError('input', what, { file: dir }, 'fix the inputs or the options and rerun: nothing of this run was kept');
}

/** A set named by --exclude-set that no record had: a typo that would otherwise exclude nothing. */
function unmatchedSets(st: RunSettings, units: UnitResult[]): MeapError | null {
  // Units recorded by a meap that did not count sets cannot tell.
  if (st.excludeSets.length === 0 || units.some((u) => u.read.sets === undefined)) return null;
  const seen = new Set(units.flatMap((u) => Object.keys(u.read.sets ?? {})));
  const unmatched = st.excludeSets.filter((s) => !seen.has(s));
  if (unmatched.length === 0) return null;
  const names = [...seen].sort();
  return new MeapError(
    'usage',
    `${unmatched.map((s) => `--exclude-set ${s}`).join(', ')} matched no record; sets seen: ${names.length === 0 ? 'none' : names.join(', ')}`,
    {},
    [names.length === 0 ? 'no record has a meta.redpajama_set_name' : 'names are case-sensitive', ...(st.limit === null ? [] : [`--limit ${st.limit} read only the first records of each input`])].join('; '),
  );
}

function common(st: RunSettings, units: UnitResult[]) {
  const shards = units.flatMap((u) => u.shards);
  const sum = (key: 'rows' | 'tokens' | 'maskedTokens') => shards.reduce((s, x) => s + x[key], 0);
  const skippedOf = (u: UnitResult) => sortKeys(addCounts({ ...u.read.skipped }, u.skipped));
  const totals = { rows: sum('rows'), tokens: sum('tokens'), maskedTokens: sum('maskedTokens') };
  return {
    head: {
      format: 'meap-shards' as const,
      version: 2 as const,
      shardFormat: SHARD_FORMAT,
      seqLen: st.seqLen,
      seed: st.seed,
      tokenizer: st.tokenizer,
      settings: st,
    },
    shards,
    inputOf: (u: UnitResult) => ({ path: u.path, sha256: u.sha256, records: u.read.records }),
    skippedOf,
    totals,
    skipped: sortKeys(units.reduce<Record<string, number>>((acc, u) => addCounts(acc, skippedOf(u)), {})),
    warnings: warningsOf(st, units, totals),
  };
}

/** The key is left out when there is nothing to say, so such manifests keep their bytes. */
function warningsOf(st: RunSettings, units: UnitResult[], totals: { rows: number; maskedTokens: number }): { warnings?: string[] } {
  // Completion records of an older meap, resumed into this run, did not count eligible positions;
  // and a run without rows has worse to say than its masked share.
  if (totals.rows === 0 || units.some((u) => u.counts.eligible === undefined)) return {};
  const shortfall = maskShortfall(st, totals.maskedTokens, units.reduce((s, u) => s + u.counts.eligible, 0));
  return shortfall === null ? {} : { warnings: [shortfall] };
}

function pretrainManifest(st: PretrainSettings, units: UnitResult[]): Manifest {
  const c = common(st, units);
  return {
    ...c.head,
    mode: 'pretrain',
    masking: { strategy: st.mask, ratio: st.maskRatio, spanLength: st.spanLength },
    document: { bos: st.bos, eos: st.eos, textField: st.textField, excludeSets: st.excludeSets },
    inputs: units.map((u) => ({ ...c.inputOf(u), documents: u.read.items, skipped: c.skippedOf(u) })),
    shards: c.shards,
    totals: { ...c.totals, documents: units.reduce((s, u) => s + u.read.items, 0), skipped: c.skipped },
    ...c.warnings,
  };
}

function sftManifest(st: SftSettings, units: UnitResult[]): Manifest {
  const c = common(st, units);
  const total = (key: string) => units.reduce((s, u) => s + (u.counts[key] ?? 0), 0);
  return {
    ...c.head,
    mode: 'sft',
    masking: { strategy: st.mask, ratio: st.maskRatio, minAnswerTokens: st.minAnswerTokens, layout: st.sftLayout },
    sft: { template: st.template, templateSha256: st.templateSha256, pack: st.pack, bos: st.bos, eos: st.eos },
    inputs: units.map((u) => ({ ...c.inputOf(u), examples: u.read.items, skipped: c.skippedOf(u) })),
    shards: c.shards,
    totals: {
      ...c.totals,
      examples: units.reduce((s, u) => s + u.read.items, 0),
      duplicated: total('duplicated'),
      ntpOnly: total('ntpOnly'),
      truncated: total('truncated'),
      layoutFallbacks: total('layoutFallbacks'),
      skipped: c.skipped,
    },
    ...c.warnings,
  };
}

/** Skip counts by reason, the reasons sorted, as a manifest lists them. */
const sortKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));

const addCounts = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
};

/** Stable bytes: fixed key order comes from the schema-shaped objects we build, plus a final newline. */
export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(ManifestSchema.parse(manifest), null, 2)}\n`;
}
