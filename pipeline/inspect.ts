/** `meap inspect`: rows of a finished directory decoded, masked tokens shown as [MASK:original]. */
import { IGNORE_INDEX } from '../core/constants.ts';
import { MeapError } from '../core/errors.ts';
import type { DecodedShard } from '../datasets/shards/codec.ts';
import { readShard, shardPath, shardRow } from '../datasets/shards/read.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { tokenizerFor } from './tokenize/tokenizer-copies.ts';
import { createDecoder, type Decoder } from './tokenize/decode.ts';
import { readFinishedManifest } from './workstate/status.ts';

export interface InspectedRow {
  index: number;
  shard: string;
  rowInShard: number;
  input_ids: number[];
  labels: number[];
  position_ids: number[];
  /** Positions holding [MASK]. */
  masked: number[];
  segments: Segment[];
  /** The row decoded, or null when no tokenizer with the manifest's sha256 is at hand. */
  text: string | null;
}

/** Which rows: from `row`, through `last` (inclusive; null: the last row), at most `limit` of them. */
export interface RowSelection {
  row: number;
  last?: number | null;
  limit?: number;
  tokenizer?: string;
}

/** The manifest and the selected rows decoded (none when the directory holds no rows); `row` is the first. */
export async function inspect(dir: string, opts: RowSelection): Promise<{ manifest: Manifest; row: InspectedRow | null; rows: InspectedRow[] }> {
  const m = await readFinishedManifest(dir);
  const total = m.totals.rows;
  if (total === 0) return { manifest: m, row: null, rows: [] };
  if (opts.row >= total) {
    // Named as the user gave it: `last` is set by --rows alone.
    const given = opts.last === undefined ? `--row ${opts.row}` : `--rows ${opts.row}..${opts.last ?? ''}`;
    throw new MeapError('usage', `${given} is out of range: the directory holds ${total} rows (0 to ${total - 1})`);
  }
  let last = opts.last === undefined ? opts.row + (opts.limit ?? 1) - 1 : Math.min(opts.last ?? total - 1, total - 1);
  if (opts.limit !== undefined) last = Math.min(last, opts.row + opts.limit - 1);
  last = Math.min(last, total - 1);
  if (last < opts.row) throw new MeapError('usage', `--rows ${opts.row}..${opts.last} is empty: its end comes before its start`);

  const decoder = await openDecoder(m.tokenizer.sha256, opts.tokenizer);
  const shards = new Map<string, Promise<DecodedShard>>();
  const rowAt = async (index: number) => {
    let first = 0;
    const entry = m.shards.find((s) => (first += s.rows) > index)!;
    const local = index - (first - entry.rows);
    // Checked against the manifest before decoding: a damaged shard is named, never decoded.
    if (!shards.has(entry.file)) shards.set(entry.file, readShard(shardPath(dir, entry.file), { sha256: entry.sha256, rows: entry.rows }));
    const { inputIds, labels, positionIds } = shardRow(await shards.get(entry.file)!, local);
    return { entry, local, inputIds: Array.from(inputIds), labels: Array.from(labels), positionIds: Array.from(positionIds) };
  };
  const rows: InspectedRow[] = [];
  for (let index = opts.row; index <= last; index++) {
    const { entry, local, inputIds, labels, positionIds } = await rowAt(index);
    const maskId = m.tokenizer.maskTokenId;
    const masked = inputIds.flatMap((id, i) => (id === maskId ? [i] : []));
    // The token each position stands for: [MASK] positions keep their original in `labels`.
    const tokens = inputIds.map((id, i) => (id === maskId ? labels[i] : id));
    const segments =
      m.mode === 'sft'
        ? sftSegments({ inputIds, labels, positionIds }, maskId, local > 0 ? await rowAt(index - 1) : null)
        : [{ name: '', from: 0, to: tokens.length }];
    const isMasked = new Set(masked);
    const text = decoder
      ? segments.map((g) => (g.name ? `[${g.name}] ` : '') + render(decoder, tokens, isMasked, g.from, g.to)).join(m.mode === 'sft' ? '\n' : '')
      : null;
    rows.push({ index, shard: entry.file, rowInShard: local, input_ids: inputIds, labels, position_ids: positionIds, masked, segments, text });
  }
  return { manifest: m, row: rows[0], rows };
}

export interface Segment {
  name: string;
  from: number;
  to: number;
}

/**
 * An SFT row's parts, read from its labels: each sequence (position_ids restart) is an original
 * (prompt at -100, then answer and EOS as labels), optionally followed by its masked copy (concat),
 * or a copy alone (separate layout). A copy alone is split at its original's prompt length where its
 * original is the sequence just before it (in this row, or the last of the previous one): packing
 * may place an example's copy apart from its original, so that is checked, token by token, and a
 * copy whose original is not there is one COPY part.
 */
export function sftSegments(row: SftRow, maskId: number, previousRow: SftRow | null): Segment[] {
  return readSequences(row, maskId, previousRow === null ? null : readSequences(previousRow, maskId, null).last).segments;
}

type SftRow = { inputIds: number[]; labels: number[]; positionIds: number[] };

/** An original sequence's tokens and prompt length, for the copy that may follow it. */
interface Original {
  tokens: number[];
  promptLen: number;
}

function readSequences(row: SftRow, maskId: number, before: Original | null): { segments: Segment[]; last: Original | null } {
  const out: Segment[] = [];
  const { inputIds, labels, positionIds } = row;
  let last = before;
  const starts = positionIds.flatMap((p, i) => (p === 0 ? [i] : []));
  starts.forEach((a, k) => {
    const b = k + 1 < starts.length ? starts[k + 1] : inputIds.length;
    let f = a;
    while (f < b && labels[f] === IGNORE_INDEX) f++;
    if (f < b && inputIds[f] === maskId) {
      // [MASK] positions keep their original token in labels: restored, a copy is its original.
      const restored = inputIds.slice(a, b).map((id, i) => (id === maskId ? labels[a + i] : id));
      const isOfLast = (o: Original) => o.tokens.length === restored.length && o.tokens.every((t, i) => t === restored[i]);
      const p = last !== null && isOfLast(last) ? last.promptLen : null;
      if (p === null) out.push({ name: 'COPY', from: a, to: b });
      else out.push({ name: 'COPY PROMPT', from: a, to: a + p }, { name: 'COPY ANSWER', from: a + p, to: b });
      last = null;
      return;
    }
    let o = f;
    while (o < b && labels[o] !== IGNORE_INDEX) o++;
    const promptLen = f - a;
    last = { tokens: inputIds.slice(a, o), promptLen };
    out.push({ name: 'PROMPT', from: a, to: f }, { name: 'ANSWER', from: f, to: o });
    if (o < b) out.push({ name: 'COPY PROMPT', from: o, to: o + promptLen }, { name: 'COPY ANSWER', from: o + promptLen, to: b });
  });
  return { segments: out.filter((g) => g.to > g.from), last };
}

async function openDecoder(sha256: string, given?: string): Promise<Decoder | null> {
  const tok = await tokenizerFor(sha256, given, (found) => `the tokenizer's sha256 (${found}…) is not the manifest's (${sha256.slice(0, 12)}…)`);
  return tok === null ? null : createDecoder(tok);
}

/**
 * Decodes runs of tokens together, so that multi-token characters survive: a run of unmasked tokens
 * as text, a run of masked ones as one marker, `[MASK:original]` or `[MASK×5: original text]`. Each
 * run is decoded after the token before it and that token's text cut off again, because decoders
 * such as SentencePiece's drop a run's leading space when it starts a sequence. A run that still
 * holds a broken character (one whose bytes the mask split) shows those tokens' bytes, `<0xBB>`,
 * rather than U+FFFD.
 */
function render(decoder: Decoder, tokens: number[], isMasked: ReadonlySet<number>, from: number, to: number): string {
  const piece = (a: number, b: number) => {
    const ids = tokens.slice(a, b);
    if (a === 0) return decoder.decode(ids);
    const before = decoder.decode([tokens[a - 1]]);
    const both = decoder.decode([tokens[a - 1], ...ids]);
    return both.startsWith(before) ? both.slice(before.length) : decoder.decode(ids);
  };
  const readable = (a: number, b: number) => {
    const text = piece(a, b);
    if (text !== '' && !text.includes('\uFFFD')) return text;
    let out = '';
    for (let i = a; i < b; i++) {
      // A byte of a broken character reads as U+FFFD, or as nothing after the byte before it.
      const one = piece(i, i + 1);
      out += one === '' || one.includes('\uFFFD') ? decoder.tokenBytes(tokens[i]) : one;
    }
    return out;
  };
  let out = '';
  for (let a = from; a < to; ) {
    const masked = isMasked.has(a);
    let b = a + 1;
    while (b < to && isMasked.has(b) === masked) b++;
    if (!masked) out += readable(a, b);
    else out += `[MASK${b - a > 1 ? `×${b - a}` : ''}:${readable(a, b)}]`;
    a = b;
  }
  return out;
}
