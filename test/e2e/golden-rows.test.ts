/**
 * The token rows `prepare` writes, pinned: input_ids, labels and position_ids of real fixture runs
 * are compared with digests recorded before the code was reorganised (issue 9), so that a refactor
 * or a new shard container can never change a single token unnoticed. The digests cover the decoded
 * columns, not the shard bytes, so they hold across container formats.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, gpt2, llama2, meap, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

const GOLDEN = path.join(path.dirname(new URL(import.meta.url).pathname), 'golden-rows.json');

const RUNS: Record<string, string[]> = {
  'pretrain-random': [slimpajama('chunk_0.jsonl.zst'), slimpajama('chunk_1.jsonl.zst'), '-t', llama2, '--seq-len', '1024', '--seed', '7'],
  'pretrain-span5': [slimpajama('chunk_0.jsonl.zst'), slimpajama('chunk_1.jsonl.zst'), '-t', llama2, '--seq-len', '1024', '--mask', 'span'],
  'pretrain-span50-gpt2': [path.join(fixtures, 'redpajama/arxiv20.jsonl'), '-t', gpt2, '--seq-len', '2048', '--mask', 'span', '--span-length', '50', '--seed', '3'],
  'sft-concat': [path.join(fixtures, 'alpaca/alpaca_head128.json'), '--mode', 'sft', '-t', llama2, '--seq-len', '1024'],
  'sft-separate-packed': [path.join(fixtures, 'alpaca/alpaca_head128.sharegpt.json'), '--mode', 'sft', '-t', llama2, '--seq-len', '2048', '--sft-layout', 'separate', '--pack', '--seed', '11'],
};

interface Digest {
  rows: number;
  tokens: number;
  masked: number;
  input_ids: string;
  labels: string;
  position_ids: string;
  firstRow: number[];
}

function digest(dir: string): Digest {
  const { manifest, rows } = readShards(dir);
  const hashes = { input_ids: createHash('sha256'), labels: createHash('sha256'), position_ids: createHash('sha256') };
  const add = (h: ReturnType<typeof createHash>, a: Int32Array) => {
    h.update(Buffer.from(Int32Array.of(a.length).buffer));
    h.update(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  };
  for (const r of rows) {
    add(hashes.input_ids, r.inputIds);
    add(hashes.labels, r.labels);
    add(hashes.position_ids, r.positions);
  }
  return {
    rows: rows.length,
    tokens: manifest.totals.tokens,
    masked: manifest.totals.maskedTokens,
    input_ids: hashes.input_ids.digest('hex'),
    labels: hashes.labels.digest('hex'),
    position_ids: hashes.position_ids.digest('hex'),
    firstRow: Array.from(rows[0]?.inputIds.subarray(0, 16) ?? []),
  };
}

// MEAP_RECORD_GOLDEN=1 rewrites the file: only for a change that is meant to alter the rows.
const record = process.env.MEAP_RECORD_GOLDEN === '1';
const golden: Record<string, Digest> = record ? {} : JSON.parse(fs.readFileSync(GOLDEN, 'utf8'));

describe('prepare writes the same token rows as recorded', () => {
  for (const [name, args] of Object.entries(RUNS)) {
    it(name, () => {
      const out = path.join(tempDir(), 'out');
      const r = meap(['prepare', ...args, '-o', out, '--progress', 'none']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const d = digest(out);
      if (record) {
        golden[name] = d;
        fs.writeFileSync(GOLDEN, `${JSON.stringify(golden, null, 2)}\n`);
      } else {
        expect(d).toEqual(golden[name]);
      }
    });
  }
});
