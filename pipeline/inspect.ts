/** `meap inspect`: one row of a finished directory decoded, masked tokens shown as [MASK:original]. */
import { IGNORE_INDEX } from '../core/constants.ts';
import { MeapError } from '../core/errors.ts';
import { readManifest, readShard, shardPath, shardRow } from '../datasets/shards/read.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { findTokenizer } from './tokenize/cache.ts';
import { createDecoder, type Decoder } from './tokenize/decode.ts';
import { loadTokenizer } from './tokenize/load.ts';

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

/** The manifest, and row `row` decoded (null when the directory holds no rows). */
export async function inspect(dir: string, opts: { row: number; tokenizer?: string }): Promise<{ manifest: Manifest; row: InspectedRow | null }> {
  const m = await readManifest(dir);
  if (m.totals.rows === 0) return { manifest: m, row: null };
  if (opts.row >= m.totals.rows) {
    throw new MeapError('usage', `--row ${opts.row} is out of range: the directory holds ${m.totals.rows} rows (0 to ${m.totals.rows - 1})`);
  }
  let first = 0;
  const entry = m.shards.find((s) => (first += s.rows) > opts.row)!;
  const local = opts.row - (first - entry.rows);
  const shard = await readShard(shardPath(dir, entry.file));
  const rowAt = (r: number) => {
    const { inputIds, labels, positionIds } = shardRow(shard, r);
    return { inputIds: Array.from(inputIds), labels: Array.from(labels), positionIds: Array.from(positionIds) };
  };
  const { inputIds, labels, positionIds } = rowAt(local);
  const maskId = m.tokenizer.maskTokenId;
  const masked = inputIds.flatMap((id, i) => (id === maskId ? [i] : []));
  // The token each position stands for: [MASK] positions keep their original in `labels`.
  const tokens = inputIds.map((id, i) => (id === maskId ? labels[i] : id));
  const segments =
    m.mode === 'sft'
      ? sftSegments({ inputIds, labels, positionIds }, maskId, local > 0 ? rowAt(local - 1) : null)
      : [{ name: '', from: 0, to: tokens.length }];
  const decoder = await openDecoder(m.tokenizer.sha256, opts.tokenizer);
  const text = decoder
    ? segments.map((g) => (g.name ? `[${g.name}] ` : '') + render(decoder, tokens, masked, g.from, g.to)).join(m.mode === 'sft' ? '\n' : '')
    : null;

  return {
    manifest: m,
    row: { index: opts.row, shard: entry.file, rowInShard: local, input_ids: inputIds, labels, position_ids: positionIds, masked, segments, text },
  };
}

export interface Segment {
  name: string;
  from: number;
  to: number;
}

/**
 * An SFT row's parts, read from its labels: each sequence (position_ids restart) is an original
 * (prompt at -100, then answer and EOS as labels), optionally followed by its masked copy (concat),
 * or a copy alone (separate layout), whose prompt length is its original's, found just before it.
 */
export function sftSegments(row: { inputIds: number[]; labels: number[]; positionIds: number[] }, maskId: number, previousRow: typeof row | null): Segment[] {
  const out: Segment[] = [];
  const { inputIds, labels, positionIds } = row;
  let promptLen: number | null = null;
  if (previousRow !== null) promptLen = lastPromptLength(previousRow, maskId);
  const starts = positionIds.flatMap((p, i) => (p === 0 ? [i] : []));
  starts.forEach((a, k) => {
    const b = k + 1 < starts.length ? starts[k + 1] : inputIds.length;
    let f = a;
    while (f < b && labels[f] === IGNORE_INDEX) f++;
    if (f < b && inputIds[f] === maskId) {
      if (promptLen === null) out.push({ name: 'COPY', from: a, to: b });
      else out.push({ name: 'COPY PROMPT', from: a, to: a + promptLen }, { name: 'COPY ANSWER', from: a + promptLen, to: b });
      return;
    }
    let o = f;
    while (o < b && labels[o] !== IGNORE_INDEX) o++;
    promptLen = f - a;
    out.push({ name: 'PROMPT', from: a, to: f }, { name: 'ANSWER', from: f, to: o });
    if (o < b) out.push({ name: 'COPY PROMPT', from: o, to: o + promptLen }, { name: 'COPY ANSWER', from: o + promptLen, to: b });
  });
  return out.filter((g) => g.to > g.from);
}

function lastPromptLength(row: { inputIds: number[]; labels: number[]; positionIds: number[] }, maskId: number): number | null {
  let len: number | null = null;
  for (const g of sftSegments(row, maskId, null)) if (g.name === 'PROMPT') len = g.to - g.from;
  return len;
}

async function openDecoder(sha256: string, given?: string): Promise<Decoder | null> {
  const file = given ?? (await findTokenizer(sha256));
  if (file === null) return null;
  const tok = await loadTokenizer(file);
  if (tok.sha256 !== sha256) {
    throw new MeapError('usage', `the tokenizer's sha256 (${tok.sha256.slice(0, 12)}…) is not the manifest's (${sha256.slice(0, 12)}…)`, { file }, 'pass the tokenizer the shards were prepared with');
  }
  return createDecoder(tok);
}

/**
 * Decodes runs of unmasked tokens together so multi-token characters survive. Each run is decoded
 * after the token before it and that token's text cut off again, because decoders such as
 * SentencePiece's drop a run's leading space when it starts a sequence.
 */
function render(decoder: Decoder, tokens: number[], masked: number[], from: number, to: number): string {
  const piece = (a: number, b: number) => {
    const ids = tokens.slice(a, b);
    if (a === 0) return decoder.decode(ids);
    const before = decoder.decode([tokens[a - 1]]);
    const both = decoder.decode([tokens[a - 1], ...ids]);
    return both.startsWith(before) ? both.slice(before.length) : decoder.decode(ids);
  };
  let out = '';
  let start = from;
  for (const pos of [...masked.filter((p) => p >= from && p < to), to]) {
    if (pos > start) out += piece(start, pos);
    if (pos < to) out += `[MASK:${piece(pos, pos + 1)}]`;
    start = pos + 1;
  }
  return out;
}
