/**
 * Streams training rows from one or more `meap prepare` directories with bounded memory.
 *
 * Order, per epoch e: the global shard list (all directories, manifest order) is Fisher–Yates
 * shuffled, cut into windows of `windowShards` consecutive shards, and the rows of each window are
 * shuffled again. Only the current window is decoded, so memory is windowShards shards no matter
 * how large the dataset is, while rows still mix across shards (and directories).
 *
 * Every permutation comes from core/rng.ts's xoshiro128**, seeded through `Rng.forRow`:
 *   shard order of epoch e:        Rng.forRow(seed, sha256("meap-loader-shards-v1"), e)
 *   row order of window w of e:    Rng.forRow(seed, sha256(`meap-loader-rows-v1:${e}`), w)
 * so an order depends only on (seed, epoch, window) and the manifests, never on timing, and a
 * cursor (epoch, window, offset) is enough to resume exactly.
 */
import { IGNORE_INDEX } from '../core/constants.ts';
import { MeapError, configError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { Rng } from '../core/rng.ts';
import type { DecodedShard } from '../datasets/shards/codec.ts';
import { readManifest, readShard as readShardFile, shardPath } from '../datasets/shards/read.ts';
import type { ShardColumn } from '../schemas/shard-columns.ts';
import { embeddingRows } from '../schemas/train.ts';

/** Flat row-major [rows × length]; padding is inputIds 0, labels −100, positionIds 0. */
export interface Batch {
  rows: number;
  length: number;
  inputIds: Int32Array;
  labels: Int32Array;
  positionIds: Int32Array;
}

export interface DatasetInfo {
  dirs: string[];
  rows: number;
  tokenizerSha256: string;
  vocabSize: number;
  maskTokenId: number;
  /** The first directory's (a Hugging Face export's bos/eos ids). */
  bosId: number | null;
  eosId: number | null;
  vocabRows: number;
  /** The longest seqLen of the directories: no row is longer. */
  seqLen: number;
  /** Distinct manifest modes, in directory order. */
  modes: string[];
  /** The directories whose rows hold [MASK] tokens, with how many. */
  masked: { dir: string; maskedTokens: number }[];
}

export interface ShardRef {
  dir: string;
  file: string;
  /** dir joined with file: what errors name. */
  path: string;
  rows: number;
  sha256: string;
  seqLen: number;
}

export interface Dataset {
  info: DatasetInfo;
  /** All shards of all directories, in directory then manifest order. */
  shards: readonly ShardRef[];
}

export interface Cursor {
  epoch: number;
  window: number;
  offset: number;
}

const SHARD_ORDER_TAG = sha256Hex('meap-loader-shards-v1');
const rowOrderTag = (epoch: number) => sha256Hex(`meap-loader-rows-v1:${epoch}`);

export async function openDatasets(dirs: string[]): Promise<Dataset> {
  if (dirs.length === 0) throw configError('no dataset directories given', 'give at least one --data directory');
  const shards: ShardRef[] = [];
  const modes: string[] = [];
  const masked: DatasetInfo['masked'] = [];
  let first: { dir: string; sha256: string; vocabSize: number; maskTokenId: number; bosId: number | null; eosId: number | null } | null = null;
  let seqLen = 0;
  for (const dir of dirs) {
    const m = await readManifest(dir);
    const tok = { dir, sha256: m.tokenizer.sha256, vocabSize: m.tokenizer.vocabSize, maskTokenId: m.tokenizer.maskTokenId, bosId: m.tokenizer.bosId, eosId: m.tokenizer.eosId };
    if (first === null) first = tok;
    else {
      const diffs = (['sha256', 'vocabSize', 'maskTokenId'] as const)
        .filter((k) => tok[k] !== first![k])
        .map((k) => `tokenizer ${k} ${first![k]} vs ${tok[k]}`);
      if (diffs.length > 0) {
        throw configError(
          `datasets ${first.dir} and ${dir} were prepared with different tokenizers: ${diffs.join(', ')}`,
          'prepare every --data directory with the same tokenizer and [MASK] id',
        );
      }
    }
    if (!modes.includes(m.mode)) modes.push(m.mode);
    if (m.totals.maskedTokens > 0) masked.push({ dir, maskedTokens: m.totals.maskedTokens });
    seqLen = Math.max(seqLen, m.seqLen);
    for (const s of m.shards) {
      shards.push({ dir, file: s.file, path: shardPath(dir, s.file), rows: s.rows, sha256: s.sha256, seqLen: m.seqLen });
    }
  }
  const rows = shards.reduce((n, s) => n + s.rows, 0);
  if (rows === 0) throw configError(`the datasets ${dirs.join(', ')} hold no rows`, 'nothing to train on');
  const f = first!;
  return {
    info: {
      dirs: [...dirs],
      rows,
      tokenizerSha256: f.sha256,
      vocabSize: f.vocabSize,
      maskTokenId: f.maskTokenId,
      bosId: f.bosId,
      eosId: f.eosId,
      vocabRows: embeddingRows(f.vocabSize, f.maskTokenId),
      seqLen,
      modes,
      masked,
    },
    shards,
  };
}

/**
 * The data a run reads, as its checkpoints record it: the loader's order and cursor depend on every
 * shard's sha256 in order, so a resume on other data would read rows its cursor never meant.
 */
export function dataIdentity(ds: Dataset): { shards: number; rows: number; sha256: string } {
  return { shards: ds.shards.length, rows: ds.info.rows, sha256: sha256Hex(ds.shards.map((s) => s.sha256).join('\n')) };
}

/** Shards decoded at a time by `meap train`'s loader. */
const WINDOW_SHARDS = 4;

/** 0 … n−1 permuted by the classic descending Fisher–Yates, one `below` draw per position i ≥ 1. */
function permutation(n: number, rng: Rng): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

const shardPermutation = (seed: number, epoch: number, shards: number) => permutation(shards, Rng.forRow(seed, SHARD_ORDER_TAG, epoch));
const rowPermutation = (seed: number, epoch: number, window: number, rows: number) => permutation(rows, Rng.forRow(seed, rowOrderTag(epoch), window));

/**
 * The rows the loader yields, as global row indices (every directory's rows in manifest order,
 * directories in the order given), epoch after epoch: what `meap order` prints. It needs only the
 * manifests' row counts, and is the same computation the Loader makes (tested against it).
 */
export function* trainingOrder(ds: Dataset, seed: number, epochs: number, windowShards = WINDOW_SHARDS): Generator<number> {
  const first: number[] = [];
  let rows = 0;
  for (const s of ds.shards) {
    first.push(rows);
    rows += s.rows;
  }
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shardPermutation(seed, epoch, ds.shards.length);
    for (let w = 0; w * windowShards < order.length; w++) {
      const shards = Array.from(order.subarray(w * windowShards, (w + 1) * windowShards));
      const global: number[] = [];
      for (const k of shards) for (let r = 0; r < ds.shards[k].rows; r++) global.push(first[k] + r);
      for (const i of rowPermutation(seed, epoch, w, global.length)) yield global[i];
    }
  }
}

interface Window {
  epoch: number;
  window: number;
  shards: DecodedShard[];
  /** Row i of the window's permutation is row rowOf[i] of shards[shardOf[i]]. */
  shardOf: Uint32Array;
  rowOf: Uint32Array;
}

export class Loader {
  private readonly ds: Dataset;
  private readonly seed: number;
  private readonly windowShards: number;
  private readonly numWindows: number;
  private pos: Cursor = { epoch: 0, window: 0, offset: 0 };
  private current: Window | null = null;
  private orderEpoch = -1;
  private order: Uint32Array = new Uint32Array(0);

  constructor(ds: Dataset, o: { seed: number; windowShards?: number }) {
    if (!Number.isSafeInteger(o.seed) || o.seed < 0) throw configError(`the loader seed must be a non-negative integer, got ${o.seed}`);
    const w = o.windowShards ?? WINDOW_SHARDS;
    if (!Number.isSafeInteger(w) || w < 1) throw configError(`windowShards must be a positive integer, got ${w}`);
    if (ds.info.rows === 0) throw configError('the dataset holds no rows');
    this.ds = ds;
    this.seed = o.seed;
    this.windowShards = w;
    this.numWindows = Math.ceil(ds.shards.length / w);
  }

  /** Always points at a row that exists (or at a window not loaded yet), never one past a window's end. */
  cursor(): Cursor {
    return { ...this.pos };
  }

  restore(c: Cursor): void {
    const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
    if (!ok(c.epoch) || !ok(c.window) || !ok(c.offset) || c.window >= this.numWindows) {
      throw configError(
        `cannot restore the data cursor ${JSON.stringify(c)}: the datasets have ${this.numWindows} windows of ${this.windowShards} shards`,
        'resume with the same --data directories',
      );
    }
    this.pos = { epoch: c.epoch, window: c.window, offset: c.offset };
    if (this.current !== null && (this.current.epoch !== c.epoch || this.current.window !== c.window)) this.current = null;
  }

  /**
   * The next `rows` rows, padded with inputIds 0, labels −100, positionIds 0 to the longest of them,
   * or to `padTo` (a fixed shape, such as the WebGPU engine's plan: padded once, here, not copied again).
   */
  async next(rows: number, padTo?: { rows: number; length: number }): Promise<Batch> {
    if (!Number.isSafeInteger(rows) || rows < 1) throw new RangeError(`next(rows) needs a positive integer, got ${rows}`);
    const picked: { shard: DecodedShard; row: number }[] = [];
    while (picked.length < rows) {
      const w = await this.window();
      const n = w.shardOf.length;
      while (picked.length < rows && this.pos.offset < n) {
        const i = this.pos.offset++;
        picked.push({ shard: w.shards[w.shardOf[i]], row: w.rowOf[i] });
      }
      if (this.pos.offset === n) this.advanceWindow();
    }
    return assemble(picked, padTo);
  }

  private advanceWindow(): void {
    this.current = null;
    this.pos = this.pos.window + 1 < this.numWindows
      ? { epoch: this.pos.epoch, window: this.pos.window + 1, offset: 0 }
      : { epoch: this.pos.epoch + 1, window: 0, offset: 0 };
  }

  /** The window under the cursor, decoding it if needed; windows without rows are stepped over. */
  private async window(): Promise<Window> {
    for (;;) {
      const { epoch, window, offset } = this.pos;
      if (this.current === null || this.current.epoch !== epoch || this.current.window !== window) {
        this.current = null; // drop the old window before decoding the next: memory stays one window
        this.current = await this.load(epoch, window);
      }
      const n = this.current.shardOf.length;
      if (offset < n) return this.current;
      // next() steps past a window as soon as it is used up, so only restore() gets here with offset > 0.
      if (offset > 0) {
        throw configError(
          `cannot restore the data cursor ${JSON.stringify(this.pos)}: that window has only ${n} rows`,
          'resume with the same --data directories',
        );
      }
      this.advanceWindow();
    }
  }

  private shardOrder(epoch: number): Uint32Array {
    if (this.orderEpoch !== epoch) {
      this.order = shardPermutation(this.seed, epoch, this.ds.shards.length);
      this.orderEpoch = epoch;
    }
    return this.order;
  }

  private async load(epoch: number, window: number): Promise<Window> {
    const order = this.shardOrder(epoch);
    const refs = Array.from(order.subarray(window * this.windowShards, (window + 1) * this.windowShards), (i) => this.ds.shards[i]);
    const vocabRows = this.ds.info.vocabRows;
    const shards = await Promise.all(refs.map((ref) => readShard(ref, vocabRows)));
    const total = shards.reduce((n, s) => n + s.rows, 0);
    const perm = rowPermutation(this.seed, epoch, window, total);
    const starts = [0];
    for (const s of shards) starts.push(starts[starts.length - 1] + s.rows);
    const shardOf = new Uint32Array(total);
    const rowOf = new Uint32Array(total);
    for (let i = 0; i < total; i++) {
      let k = 0;
      while (perm[i] >= starts[k + 1]) k++;
      shardOf[i] = k;
      rowOf[i] = perm[i] - starts[k];
    }
    return { epoch, window, shards, shardOf, rowOf };
  }
}

/**
 * Every row once (or the first `maxRows`), in directory then manifest order, `rows` at a time (the
 * last batch may be smaller), one shard decoded at a time: for evaluation, where order must not
 * depend on a seed. Shards past `maxRows` are not read.
 */
export async function* sequentialBatches(ds: Dataset, rows: number, maxRows = Infinity): AsyncGenerator<Batch> {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new RangeError(`sequentialBatches needs a positive row count, got ${rows}`);
  let picked: { shard: DecodedShard; row: number }[] = [];
  let left = maxRows;
  for (const ref of ds.shards) {
    if (left === 0) break;
    if (ref.rows === 0) continue;
    const shard = await readShard(ref, ds.info.vocabRows);
    for (let r = 0; r < shard.rows && left > 0; r++, left--) {
      picked.push({ shard, row: r });
      if (picked.length === rows) {
        yield assemble(picked);
        picked = [];
      }
    }
  }
  if (picked.length > 0) yield assemble(picked);
}

/** Hashing every shard costs far less than a training step on its rows, and proves it is the one prepare wrote. */
async function readShard(ref: ShardRef, vocabRows: number): Promise<DecodedShard> {
  const shard = await readShardFile(ref.path, { sha256: ref.sha256, rows: ref.rows });
  checkShard(ref, shard, vocabRows);
  return shard;
}

function checkShard(ref: ShardRef, shard: DecodedShard, vocabRows: number): void {
  const { input_ids: ids, labels, position_ids: pos } = shard.columns;
  const bad = (row: number, what: string) =>
    new MeapError('integrity', what, { file: ref.path, record: row }, `the model's embedding has ${vocabRows} rows; was the shard prepared with another tokenizer?`);
  for (let r = 0; r < shard.rows; r++) {
    const len = ids.offsets[r + 1] - ids.offsets[r];
    if (labels.offsets[r + 1] - labels.offsets[r] !== len || pos.offsets[r + 1] - pos.offsets[r] !== len) {
      throw new MeapError('integrity', 'input_ids, labels and position_ids of this row differ in length', { file: ref.path, record: r });
    }
    if (len > ref.seqLen) {
      throw new MeapError('integrity', `the row holds ${len} tokens, more than the manifest's seqLen ${ref.seqLen}`, { file: ref.path, record: r });
    }
    for (let i = ids.offsets[r]; i < ids.offsets[r + 1]; i++) {
      const v = ids.values[i];
      if (v < 0 || v >= vocabRows) throw bad(r, `input id ${v} at position ${i - ids.offsets[r]} is outside the embedding [0, ${vocabRows})`);
    }
    for (let i = labels.offsets[r]; i < labels.offsets[r + 1]; i++) {
      const v = labels.values[i];
      if ((v < 0 && v !== IGNORE_INDEX) || v >= vocabRows) {
        throw bad(r, `label ${v} at position ${i - labels.offsets[r]} is neither -100 nor inside the embedding [0, ${vocabRows})`);
      }
    }
    for (let i = pos.offsets[r]; i < pos.offsets[r + 1]; i++) {
      if (pos.values[i] < 0) throw new MeapError('integrity', `position id ${pos.values[i]} is negative`, { file: ref.path, record: r });
    }
  }
}

const COLUMNS: [ShardColumn, keyof Batch, number][] = [
  ['input_ids', 'inputIds', 0],
  ['labels', 'labels', IGNORE_INDEX],
  ['position_ids', 'positionIds', 0],
];

function assemble(picked: { shard: DecodedShard; row: number }[], padTo?: { rows: number; length: number }): Batch {
  const rowLen = (p: (typeof picked)[number]) => p.shard.columns.input_ids.offsets[p.row + 1] - p.shard.columns.input_ids.offsets[p.row];
  const longest = picked.reduce((m, p) => Math.max(m, rowLen(p)), 0);
  if (padTo !== undefined && (picked.length > padTo.rows || longest > padTo.length)) {
    throw new RangeError(`${picked.length} rows of up to ${longest} tokens do not fit ${padTo.rows} × ${padTo.length}`);
  }
  const rows = padTo?.rows ?? picked.length;
  const length = padTo?.length ?? longest;
  const batch: Batch = {
    rows,
    length,
    inputIds: new Int32Array(rows * length),
    labels: new Int32Array(rows * length),
    positionIds: new Int32Array(rows * length),
  };
  for (const [col, key, pad] of COLUMNS) {
    const out = batch[key] as Int32Array;
    if (pad !== 0) out.fill(pad);
    picked.forEach((p, r) => {
      const c = p.shard.columns[col];
      out.set(c.values.subarray(c.offsets[p.row], c.offsets[p.row + 1]), r * length);
    });
  }
  return batch;
}
