/**
 * SFT `--pack`: examples → rows of at most seqLen tokens, by best-fit decreasing as TRL packs, within
 * a bounded window of examples; then, where the window's tokens would fit one row fewer, a re-pack
 * that empties its emptiest row. Pure and deterministic: the rows depend on the examples alone.
 *
 * Covered by test/pipeline/sft-pack.test.ts, test/e2e/prepare-sft.test.ts (real Alpaca rows: nothing
 * split or dropped, position_ids restarting per sequence, the lower bound met) and
 * test/e2e/golden-rows.test.ts (packed rows pinned).
 */
import { SFT_PACK_ALGORITHM } from '../schemas/enums.ts';
import type { SftPacking } from '../schemas/settings.ts';
import { concat, type SftSequence } from './sft.ts';

/**
 * Examples are collected until they hold this many rows' worth of tokens, then packed and written:
 * memory stays bounded on any input (12 bytes a token held, for ids, labels and positions: 12 MB at
 * --seq-len 4096, twice that while the rows are built), and only a window's last rows can be left
 * part-empty.
 */
export const PACK_WINDOW_ROWS = 256;

/**
 * The re-pack takes at most this many rows besides the emptiest: its work grows with their square
 * (one subset-sum over all their sequences for each row). Samples of Alpaca at --seq-len 4096 took
 * up to 23.
 */
const REPACK_MAX_ROWS = 32;

/**
 * And at most this many subset-sum cells (pooled items × seqLen, once per row refilled): about a
 * second of work. Only a window of very many short examples at a long --seq-len comes near it (Alpaca
 * at 4096 stays below a twentieth of it), and such rows are nearly full without the re-pack.
 */
const REPACK_MAX_CELLS = 2 ** 30;

/**
 * What the manifest and the work state record of `--pack`, so that other packing is another command.
 * The algorithm's name stands for every choice in this module, the re-pack and its bound included: a
 * change that moves a row needs a new name.
 */
export const SFT_PACKING: SftPacking = { algorithm: SFT_PACK_ALGORITHM, windowRows: PACK_WINDOW_ROWS };

/** What is placed whole: an example's sequences, or one of them where together they exceed a row. */
interface Item {
  parts: SftSequence[];
  len: number;
  /** Its place in the window's input order, which breaks ties. */
  order: number;
}

interface Row {
  items: Item[];
  room: number;
  /** Rows are written in the order they opened. */
  opened: number;
}

/**
 * An example's sequences (a separate layout's original and its copy) stay together, in order, where
 * one row holds them, so that a copy follows its original. Sequences are never split and keep their
 * own position_ids, so varlen-attention trainers see where each starts. Each unit (input file) packs
 * its own examples, so the rows do not depend on --workers.
 */
export class SftPacker {
  private window: Item[] = [];
  private tokens = 0;

  constructor(private readonly seqLen: number) {}

  /** Adds one example's sequences; returns the rows of the window it fills, else none. */
  push(sequences: SftSequence[]): SftSequence[] {
    const len = lengthOf(sequences);
    for (const parts of len <= this.seqLen ? [sequences] : sequences.map((s) => [s])) {
      this.window.push({ parts, len: lengthOf(parts), order: this.window.length });
    }
    this.tokens += len;
    return this.tokens >= PACK_WINDOW_ROWS * this.seqLen ? this.flush() : [];
  }

  /** The last window's rows. */
  finish(): SftSequence[] {
    return this.flush();
  }

  private flush(): SftSequence[] {
    const rows = repack(bestFitDecreasing(this.window, this.seqLen), this.seqLen);
    this.window = [];
    this.tokens = 0;
    return rows.map((r) => concat(r.items.flatMap((i) => i.parts)));
  }
}

const longestFirst = (a: Item, b: Item) => b.len - a.len || a.order - b.order;

/** The longest item first, each into the open row with the least room that holds it (ties: the earlier opened). */
function bestFitDecreasing(items: Item[], seqLen: number): Row[] {
  const rows: Row[] = [];
  // The rows with room left, by room and then by opening: the first that holds an item is its best fit.
  const open: Row[] = [];
  const before = (a: Row, b: Row) => a.room < b.room || (a.room === b.room && a.opened < b.opened);
  for (const item of [...items].sort(longestFirst)) {
    const at = firstIndex(open, (r) => r.room >= item.len);
    let row: Row;
    if (at < open.length) row = open.splice(at, 1)[0];
    else rows.push((row = { items: [], room: seqLen, opened: rows.length }));
    row.items.push(item);
    row.room -= item.len;
    if (row.room > 0) open.splice(firstIndex(open, (r) => before(row, r)), 0, row);
  }
  return rows;
}

/**
 * Best-fit decreasing often leaves a window one row more than its tokens need, the last holding a
 * few short examples while the others each have a little room. While the window has a row to spare,
 * the emptiest row (ties: the later opened) and the fewest roomiest others (ties: the earlier opened)
 * whose room holds its tokens pool their items, and each of those others in turn, in opening order,
 * takes the subset of the pool that fills it most; when the pool empties, the emptiest row is gone.
 * The first try whose pool does not empty ends it, and the rows stay as they were.
 */
function repack(rows: Row[], seqLen: number): Row[] {
  const needed = Math.ceil(rows.reduce((s, r) => s + seqLen - r.room, 0) / seqLen);
  while (rows.length > needed) {
    let emptiest = rows[0];
    for (const r of rows) if (r.room >= emptiest.room) emptiest = r;
    const roomiest = rows.filter((r) => r !== emptiest).sort((a, b) => b.room - a.room || a.opened - b.opened);
    // A row to spare means that the others' room holds the emptiest row's tokens, so this ends.
    let k = 0;
    for (let room = 0; room < seqLen - emptiest.room; k++) room += roomiest[k].room;
    if (k > REPACK_MAX_ROWS) break;
    const chosen = roomiest.slice(0, k).sort((a, b) => a.opened - b.opened);
    let pool = [...emptiest.items, ...chosen.flatMap((r) => r.items)].sort(longestFirst);
    if (pool.length * seqLen * chosen.length > REPACK_MAX_CELLS) break;
    const filled = chosen.map(() => {
      const pick = fullestSubset(pool, seqLen);
      const taken = pool.filter((_, i) => pick.has(i));
      pool = pool.filter((_, i) => !pick.has(i));
      return taken;
    });
    if (pool.length > 0) break;
    chosen.forEach((r, i) => {
      r.items = filled[i];
      r.room = seqLen - filled[i].reduce((s, item) => s + item.len, 0);
    });
    // A pool that fits fewer rows than it came from leaves some of them empty: they go too.
    rows = rows.filter((r) => r !== emptiest && r.items.length > 0);
  }
  return rows;
}

/**
 * The indices of the items whose lengths sum highest within cap: a subset-sum over totals 0..cap,
 * stopping at the first item that reaches cap exactly.
 */
function fullestSubset(items: Item[], cap: number): Set<number> {
  // by[s]: the item that first made total s reachable, -1 for none. Totals are visited downwards,
  // so by[s - len] is from earlier items: following by[] back uses each item at most once.
  const by = new Int32Array(cap + 1).fill(-1);
  let top = 0;
  for (let i = 0; i < items.length && by[cap] === -1; i++) {
    const len = items[i].len;
    for (let s = Math.min(cap, top + len); s >= len; s--) if (by[s] === -1 && (s === len || by[s - len] !== -1)) by[s] = i;
    top = Math.min(cap, top + len);
  }
  let s = top;
  while (s > 0 && by[s] === -1) s--;
  const pick = new Set<number>();
  for (; s > 0; s -= items[by[s]].len) pick.add(by[s]);
  return pick;
}

/** The first index of a sorted array where `isPast` holds (it holds from there on); the length if nowhere. */
function firstIndex<T>(sorted: T[], isPast: (x: T) => boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isPast(sorted[mid])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function lengthOf(parts: SftSequence[]): number {
  return parts.reduce((s, p) => s + p.inputIds.length, 0);
}
