/**
 * What a user reads while a command runs and when it ends. Progress goes to a fake stream that is
 * not a terminal: in log mode it gets the documented lines at most every 10 s (the clock is faked,
 * so nothing here waits), in none mode nothing at all. The summary is checked on directories the
 * real CLI prepared from the fixtures, against their manifests and shards.
 */
import * as path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { bytes, count, downloadProgress, prepareProgress, summarize, trainProgress } from '../../cli/output.ts';
import { fixtures, llama2, meapAsync, readShards, slimpajama, tempDir } from '../helpers/cli.ts';

/** The least of a stream that output.ts touches. */
function fakeStream(isTTY = false): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 80, write: (s: string) => chunks.push(s) > 0 };
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => chunks.join('') };
}

/** Log lines are due every 10 s of performance.now(); the tests move that clock by hand. */
let clock = 0;
beforeEach(() => {
  clock = 1000;
  vi.spyOn(performance, 'now').mockImplementation(() => clock);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const step = (n: number, loss = 10.5 / n) => ({ step: n, loss, lr: 4e-4 * Math.min(1, n / 10), gradNorm: 1, tokens: 508, tokensPerSec: 2000 + n });

describe('bytes', () => {
  it('prints sizes in SI units with one decimal, as ls --si does', () => {
    expect([0, 999, 1000, 46_600, 999_949, 999_950, 1.5e9, 2e15].map(bytes)).toEqual(['0 B', '999 B', '1.0 kB', '46.6 kB', '999.9 kB', '1.0 MB', '1.5 GB', '2000.0 TB']);
  });
});

describe('trainProgress', () => {
  it('log: the first step at once, then a line when 10 s have passed since the last one', () => {
    const { stream, text } = fakeStream();
    const p = trainProgress('log', stream);
    p.start(100, 0);
    expect(text()).toBe('');
    p.update(step(1));
    expect(text()).toBe('meap train: step 1, loss 10.5000, lr 4.00e-5, 2,001 tok/s\n');
    clock += 9_999;
    p.update(step(2));
    expect(text().split('\n')).toHaveLength(2);
    clock += 1;
    p.update(step(3, 3.14159));
    clock += 5_000;
    p.update(step(4));
    clock += 5_000;
    p.update(step(5));
    p.stop();
    expect(text()).toBe(
      [
        'meap train: step 1, loss 10.5000, lr 4.00e-5, 2,001 tok/s',
        'meap train: step 3, loss 3.1416, lr 1.20e-4, 2,003 tok/s',
        'meap train: step 5, loss 2.1000, lr 2.00e-4, 2,005 tok/s',
        '',
      ].join('\n'),
    );
  });

  it('auto is log on a stream that is not a terminal', () => {
    const { stream, text } = fakeStream();
    const p = trainProgress('auto', stream);
    p.start(10, 0);
    p.update(step(1));
    p.stop();
    expect(text()).toBe('meap train: step 1, loss 10.5000, lr 4.00e-5, 2,001 tok/s\n');
  });

  it('none: nothing, not even the first step', () => {
    const { stream, text } = fakeStream();
    const p = trainProgress('none', stream);
    p.start(10, 0);
    for (let s = 1; s <= 3; s++) {
      p.update(step(s));
      clock += 20_000;
    }
    p.stop();
    expect(text()).toBe('');
  });
});

describe('prepareProgress', () => {
  const counters = (bytesRead: number, items: number, tokens: number) => ({ bytesRead, items, tokens });

  it('log: a line every 10 s with the share of input bytes, files done, items, tokens per second and ETA', () => {
    const { stream, text } = fakeStream();
    const p = prepareProgress('log', stream);
    p.start(1000, 4, 'documents');
    clock += 5_000;
    p.update(counters(100, 3, 1000));
    expect(text()).toBe('');
    p.fileDone();
    clock += 5_000;
    // 10 s in, a quarter of the bytes read: 30 s to go.
    p.update(counters(250, 12, 5000));
    p.fileDone();
    p.fileDone();
    clock += 9_000;
    p.update(counters(500, 20, 9000));
    clock += 11_000;
    // 30 s in, all bytes read.
    p.update(counters(1000, 40, 15000));
    p.stop();
    expect(text()).toBe(
      [
        'meap: 25.0% of input bytes, files 1/4, 12 documents, 500 tok/s, ETA 30s',
        'meap: 100.0% of input bytes, files 3/4, 40 documents, 500 tok/s, ETA 0s',
        '',
      ].join('\n'),
    );
  });

  it('log: an ETA of ? before any byte is read', () => {
    const { stream, text } = fakeStream();
    const p = prepareProgress('log', stream);
    p.start(0, 1, 'examples');
    clock += 10_000;
    p.update(counters(0, 0, 0));
    expect(text()).toBe('meap: 0.0% of input bytes, files 0/1, 0 examples, 0 tok/s, ETA ?\n');
  });

  it('bar: counts thousands separated, as the summaries print them', () => {
    const { stream, text } = fakeStream(true);
    const p = prepareProgress('bar', stream);
    p.start(1000, 1, 'documents');
    clock += 1_000;
    p.update(counters(500, 12345, 1954192));
    p.stop();
    expect(text()).toContain('| 12,345 documents | 1,954,192 tok/s |');
  });

  it('none: nothing', () => {
    const { stream, text } = fakeStream();
    const p = prepareProgress('none', stream);
    p.start(1000, 2, 'documents');
    for (let i = 1; i <= 3; i++) {
      clock += 20_000;
      p.fileDone();
      p.update(counters(300 * i, i, 100 * i));
    }
    p.stop();
    expect(text()).toBe('');
  });
});

describe('downloadProgress', () => {
  it('is left out when the stream is not a terminal: the hub log lines say enough', () => {
    expect(downloadProgress(fakeStream(false).stream)).toBeUndefined();
  });

  it('is a byte bar on a terminal', () => {
    const p = downloadProgress(fakeStream(true).stream);
    expect(p).toBeDefined();
    expect(typeof p!.start).toBe('function');
  });
});

describe('summarize', () => {
  let pretrain: string;
  let sft: string;
  beforeAll(async () => {
    const root = tempDir('meap-summary-');
    pretrain = path.join(root, 'pretrain');
    sft = path.join(root, 'sft');
    const common = ['--tokenizer', llama2, '--progress', 'none'];
    const runs = await Promise.all([
      meapAsync(['prepare', slimpajama('chunk_0.jsonl'), '--out', pretrain, ...common, '--seq-len', '64', '--limit', '12', '--exclude-set', 'RedPajamaGithub', '--mask', 'span', '--span-length', '3', '--no-eos']),
      meapAsync(['prepare', path.join(fixtures, 'alpaca', 'alpaca_head128.json'), '--mode', 'sft', '--out', sft, ...common, '--seq-len', '128', '--limit', '20']),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
  });

  const n = (x: number) => x.toLocaleString('en-US');

  it('counts: one noun in the singular, thousands separated as in every summary', () => {
    expect([count(0, 'file'), count(1, 'file'), count(2, 'file'), count(341600, 'token'), count(1, 'sequence')]).toEqual(['0 files', '1 file', '2 files', '341,600 tokens', '1 sequence']);
  });

  /** Rows, tokens and [MASK]s counted in the shards themselves, not taken from the manifest. */
  function counted(dir: string) {
    const { manifest, rows } = readShards(dir);
    const tokens = rows.reduce((s, r) => s + r.inputIds.length, 0);
    const masked = rows.reduce((s, r) => s + r.inputIds.filter((id) => id === manifest.tokenizer.maskTokenId).length, 0);
    return { manifest, rows: rows.length, tokens, masked };
  }

  it('pretrain: the settings, the documents read and skipped, and the rows, tokens and masks written', () => {
    const { manifest: m, rows, tokens, masked } = counted(pretrain);
    expect(m.mode).toBe('pretrain');
    const lines = summarize(m, pretrain).split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe(`${pretrain}: meap-shards v${m.version}, mode pretrain, seqLen 64`);
    expect(lines[1]).toBe(`  tokenizer  sha256 ${m.tokenizer.sha256.slice(0, 12)}…, vocab 32000, [MASK] 32000, BOS 1, EOS 2 (off)`);
    expect(lines[2]).toBe('  masking    span (spans of 3), ratio 0.15, seed 0');
    // --limit 12 read twelve records: one was in the excluded set.
    expect(lines[3]).toBe('  inputs     1 file, 11 documents');
    expect(lines[4]).toBe(`  output     ${count(m.shards.length, 'shard')}, ${n(rows)} rows, ${n(tokens)} tokens, ${n(masked)} masked (${((100 * masked) / tokens).toFixed(2)}%)`);
    expect(lines[5]).toBe('  skipped    excludedSet 1');
    expect(lines[6]).toBe('');
  });

  it('sft: the template and layout, and what became of each example', () => {
    const { manifest: m, rows, tokens, masked } = counted(sft);
    if (m.mode !== 'sft') throw new Error(`expected an sft manifest, got ${m.mode}`);
    const t = m.totals;
    const lines = summarize(m, sft).split('\n');
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe(`${sft}: meap-shards v${m.version}, mode sft, seqLen 128`);
    expect(lines[1]).toMatch(/, BOS 1, EOS 2$/);
    expect(lines[2]).toBe('  masking    sft-duplicate, ratio 0.1 of answers over 50 tokens, layout concat, template alpaca, seed 0');
    expect(t.examples).toBe(20);
    expect(t.duplicated + t.ntpOnly).toBe(20);
    expect(lines[3]).toBe(`  inputs     1 file, 20 examples: ${t.duplicated} duplicated, ${t.ntpOnly} next-token only, ${t.truncated} truncated, ${count(t.layoutFallbacks, 'concat fallback')}`);
    expect(lines[4]).toBe(`  output     ${count(m.shards.length, 'shard')}, ${n(rows)} rows, ${n(tokens)} tokens, ${n(masked)} masked (${((100 * masked) / tokens).toFixed(2)}%)`);
    expect(lines[5]).toBe('  skipped    none');
  });
});
