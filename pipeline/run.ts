/**
 * `meap prepare`: input files are the units of work, processed in their stable order. Inside a unit,
 * documents are tokenized in batches that run in parallel with reading, and re-join in document order,
 * so the output is a pure function of (file bytes, tokenizer, config).
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PrepareConfig } from '../schemas/config.ts';
import type { InputEntry, Manifest, ShardEntry } from '../schemas/manifest.ts';
import { resolveInputs } from '../datasets/inputs.ts';
import { InputError, MeapError } from './errors.ts';
import { OrderedQueue } from './ordered-queue.ts';
import { MANIFEST, WORK_DIR, serializeManifest, sha256File, writeFileAtomic } from './shards.ts';
import { rememberTokenizer } from './tokenizer-cache.ts';
import { createEncoder, loadTokenizer, type LoadedTokenizer } from './tokenize.ts';
import { UnitOutput, readUnit, sortKeys, type RunContext } from './unit.ts';

export async function prepare(cfg: PrepareConfig, ctx: RunContext): Promise<Manifest> {
  // A rerun with --overwrite must not read the previous run's manifest.json as an input.
  const outDir = path.resolve(cfg.out) + path.sep;
  const files = (await resolveInputs(cfg.inputs, { format: cfg.format })).files.filter((f) => !f.abs.startsWith(outDir));
  if (files.length === 0) throw new MeapError('usage', 'every input is inside the output directory', { file: cfg.out }, 'write the output elsewhere');
  const tok = await loadTokenizer(cfg.tokenizer, { bosId: cfg.bosId, eosId: cfg.eosId, maskTokenId: cfg.maskTokenId });
  await prepareOutDir(cfg.out, cfg.overwrite);
  await rememberTokenizer(cfg.tokenizer, tok.sha256);
  const encoder = await createEncoder(tok, cfg.engine, cfg.workers);
  const counters = { documents: 0, tokens: 0, bytesRead: 0 };
  ctx.progress.start(files.reduce((s, f) => s + f.size, 0), files.length);
  const inputs: InputEntry[] = [];
  const shards: ShardEntry[] = [];
  const queue = new OrderedQueue(2 * cfg.workers + 1);
  try {
    for (const file of files) {
      // The mask seed needs the file's hash before its first row, so hash in a pass of its own.
      const sha256 = await sha256File(file.abs).catch((e: NodeJS.ErrnoException) => {
        throw new InputError('unreadableFile', `cannot read: ${e.code ?? e.message}`, { file: file.rel });
      });
      const unit = new UnitOutput(cfg, tok, file, sha256, counters);
      const read = await readUnit(file, cfg, ctx, counters, (texts) => queue.push(encoder.encodeBatch(texts), (ids) => unit.add(ids)));
      const finishUnit = async () => {
        shards.push(...(await unit.finish()));
        inputs.push({ path: file.rel, sha256, ...read });
        ctx.progress.fileDone();
      };
      await queue.push(Promise.resolve(), finishUnit, 0);
    }
    await queue.drain();
  } catch (e) {
    await queue.abandon();
    throw e;
  } finally {
    ctx.progress.stop();
    await encoder.close();
  }
  const manifest = buildManifest(cfg, tok, inputs, shards);
  await writeFileAtomic(cfg.out, MANIFEST, serializeManifest(manifest));
  await fs.rm(path.join(cfg.out, WORK_DIR), { recursive: true, force: true });
  return manifest;
}

async function prepareOutDir(out: string, overwrite: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    entries = await fs.readdir(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new MeapError('usage', `cannot use the output directory: ${(e as NodeJS.ErrnoException).code}`, { file: out });
    }
  }
  const ours = entries.filter((e) => e === MANIFEST || e === WORK_DIR || /^part-[0-9a-f]{16}-\d{5}\.arrow$/.test(e));
  const foreign = entries.filter((e) => !ours.includes(e));
  if (foreign.length > 0) {
    throw new MeapError('usage', `the output directory holds files meap did not write (${foreign.slice(0, 3).join(', ')})`, { file: out }, 'choose an empty or new directory');
  }
  if (ours.length > 0) {
    if (!overwrite) {
      throw new MeapError('usage', 'the output directory already holds meap output', { file: out }, 'pass --overwrite to replace it, or choose another --out');
    }
    await Promise.all(ours.map((e) => fs.rm(path.join(out, e), { recursive: true, force: true })));
  }
  await fs.mkdir(out, { recursive: true });
}

function buildManifest(cfg: PrepareConfig, tok: LoadedTokenizer, inputs: InputEntry[], shards: ShardEntry[]): Manifest {
  const skipped: Record<string, number> = {};
  for (const input of inputs) {
    for (const [reason, n] of Object.entries(input.skipped)) skipped[reason] = (skipped[reason] ?? 0) + n;
  }
  const sum = (key: 'rows' | 'tokens' | 'maskedTokens') => shards.reduce((s, x) => s + x[key], 0);
  return {
    format: 'meap-shards',
    version: 1,
    mode: 'pretrain',
    seqLen: cfg.seqLen,
    seed: cfg.seed,
    masking: { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength },
    tokenizer: {
      sha256: tok.sha256,
      vocabSize: tok.specials.vocabSize,
      maskTokenId: tok.specials.maskTokenId,
      bosId: tok.specials.bosId,
      eosId: tok.specials.eosId,
    },
    document: { bos: cfg.bos, eos: cfg.eos, textField: cfg.textField, excludeSets: [...cfg.excludeSets].sort() },
    inputs,
    shards,
    totals: {
      rows: sum('rows'),
      tokens: sum('tokens'),
      maskedTokens: sum('maskedTokens'),
      documents: inputs.reduce((s, x) => s + x.documents, 0),
      skipped: sortKeys(skipped),
    },
  };
}

