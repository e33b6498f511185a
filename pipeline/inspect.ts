/** `meap inspect`: the manifest summary and one row decoded, masked tokens shown as [MASK:original]. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RelativePath } from '../schemas/manifest.ts';
import { decodeShard } from './arrow.ts';
import { MeapError } from './errors.ts';
import { readManifest } from './shards.ts';
import { summarize } from './summary.ts';
import { findTokenizer } from './tokenizer-cache.ts';
import { createDecoder, loadTokenizer, type Decoder } from './tokenize.ts';

export interface InspectOptions {
  row: number;
  json: boolean;
  tokenizer?: string;
}

export async function inspect(dir: string, opts: InspectOptions): Promise<string> {
  const m = await readManifest(dir);
  if (m.totals.rows === 0) return opts.json ? `${JSON.stringify({ manifest: m, row: null })}\n` : summarize(m, dir);
  if (opts.row >= m.totals.rows) {
    throw new MeapError('usage', `--row ${opts.row} is out of range: the directory holds ${m.totals.rows} rows (0 to ${m.totals.rows - 1})`);
  }
  let first = 0;
  const entry = m.shards.find((s) => (first += s.rows) > opts.row)!;
  const local = opts.row - (first - entry.rows);
  if (!RelativePath.safeParse(entry.file).success) {
    throw new MeapError('integrity', 'shard path is absolute or leaves the directory', { file: entry.file });
  }
  const shard = decodeShard(await fs.readFile(path.join(dir, entry.file)));
  const row = (col: 'input_ids' | 'labels' | 'position_ids') => {
    const c = shard.columns[col];
    return Array.from(c.values.subarray(c.offsets[local], c.offsets[local + 1]));
  };
  const inputIds = row('input_ids');
  const labels = row('labels');
  const positionIds = row('position_ids');
  const masked = inputIds.flatMap((id, i) => (id !== labels[i] ? [i] : []));
  const decoder = await openDecoder(m.tokenizer.sha256, opts.tokenizer);
  const text = decoder ? render(decoder, labels, masked) : null;

  if (opts.json) {
    const out = { manifest: m, row: { index: opts.row, shard: entry.file, rowInShard: local, input_ids: inputIds, labels, position_ids: positionIds, masked, text } };
    return `${JSON.stringify(out)}\n`;
  }
  return [
    summarize(m, dir),
    `row ${opts.row} (${entry.file}, row ${local}): ${inputIds.length} tokens, ${masked.length} masked, ${positionIds.filter((p) => p === 0).length} document starts`,
    text ?? '(no tokenizer with this sha256 is cached here; pass --tokenizer PATH to decode the text)',
    '',
  ].join('\n');
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
function render(decoder: Decoder, labels: number[], masked: number[]): string {
  const piece = (from: number, to: number) => {
    const ids = labels.slice(from, to);
    if (from === 0) return decoder.decode(ids);
    const before = decoder.decode([labels[from - 1]]);
    const both = decoder.decode([labels[from - 1], ...ids]);
    return both.startsWith(before) ? both.slice(before.length) : decoder.decode(ids);
  };
  let out = '';
  let start = 0;
  for (const pos of [...masked, labels.length]) {
    if (pos > start) out += piece(start, pos);
    if (pos < labels.length) out += `[MASK:${piece(pos, pos + 1)}]`;
    start = pos + 1;
  }
  return out;
}
