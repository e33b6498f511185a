/**
 * `meap eval --needle` through the CLI: a tiny model trained for a few steps on needle documents
 * against the same model barely trained, on the same grid; the files and summary a user gets; the
 * same prompts for the same seed; and one-line refusals.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { magicNumber } from '../../pipeline/needle.ts';
import { llama2, meap, readJsonl, slimpajama, tempDir } from '../helpers/cli.ts';

let trained: string;
let barely: string;
const haystack = slimpajama('chunk_1.jsonl');
const grid = ['--lengths', '96,160', '--depths', '0,50,100', '--needles', '2', '--tokenizer', llama2, '--backend', 'cpu'];

beforeAll(() => {
  // Needle documents: filler text, a fact, and the question answered, as the prompts ask it.
  const filler = fs.readFileSync(slimpajama('chunk_0.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text.slice(0, 200));
  const docs = Array.from({ length: 300 }, (_, i) => {
    const n = magicNumber(1000, i);
    return JSON.stringify({ text: `${filler[i % filler.length]} ${n.needle} ${filler[(i + 7) % filler.length]}\n\n${n.question}${n.answer}` });
  });
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'needles.jsonl'), `${docs.join('\n')}\n`);
  const shards = path.join(dir, 'shards');
  expect(meap(['prepare', path.join(dir, 'needles.jsonl'), '--out', shards, '--tokenizer', llama2, '--seq-len', '128', '--mask', 'none', '--progress', 'none']).code).toBe(0);
  const train = (out: string, steps: string, lr: string) => {
    const r = meap(['train', '--data', shards, '--out', out, '--model', 'tiny', '--steps', steps, '--batch-size', '8', '--lr', lr, '--min-lr', lr, '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
  };
  trained = path.join(dir, 'trained');
  barely = path.join(dir, 'barely');
  train(trained, '60', '3e-3');
  train(barely, '1', '1e-9');
}, 900_000);

const run = (dir: string, more: string[] = []) => meap(['eval', '--needle', '--run', dir, '--haystack', haystack, ...grid, ...more]);

describe('meap eval --needle', () => {
  it('writes needle.json, needle.svg and a one-screen summary; says once that prompts outrun the trained length', () => {
    const out = tempDir();
    const prompts = path.join(out, 'prompts.jsonl');
    const r = run(trained, ['--out', out, '--save-prompts', prompts]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(fs.readFileSync(path.join(out, 'needle.json'), 'utf8'));
    expect(j.checkpoint.step).toBe(60);
    expect(j.settings).toMatchObject({ lengths: [96, 160], depths: [0, 50, 100], needles: 2, seed: 0, trainedSeqLen: 128 });
    expect(j.cells.map((c: { length: number; depth: number }) => `${c.length}@${c.depth}`)).toEqual(['96@0', '96@50', '96@100', '160@0', '160@50', '160@100']);
    for (const c of j.cells) {
      expect(c.prompts).toBe(2);
      expect([0, 0.5, 1]).toContain(c.accuracy);
      expect(c.meanLogProb).toBeLessThan(0);
    }
    expect(fs.readFileSync(path.join(out, 'needle.svg'), 'utf8')).toMatch(/^<svg[^]*needle depth[^]*<\/svg>\n$/);
    expect(r.stdout).toMatch(/needle accuracy by depth and length, 2 prompts a cell\ndepth +96 +160\n0% /);
    expect(r.stdout).toMatch(/all: \d+ of 12 prompts answered exactly, mean log-probability -\d+\.\d{3} a token/);
    expect(r.stderr.match(/longer than the 128 the model was trained on/g)).toHaveLength(1);
    const lines = readJsonl(prompts) as { length: number; input_ids: number[]; answer_ids: number[]; needle: string }[];
    expect(lines).toHaveLength(12);
    for (const l of lines) expect(l.input_ids).toHaveLength(l.length);

    // The same corpus, tokenizer, grid and seed: the same prompts, byte for byte.
    const again = path.join(out, 'again.jsonl');
    expect(run(barely, ['--out', tempDir(), '--save-prompts', again]).code).toBe(0);
    expect(fs.readFileSync(again)).toEqual(fs.readFileSync(prompts));
  }, 300_000);

  it('scores a model trained on needle documents above one barely trained, on the same grid', () => {
    const score = (dir: string) => {
      const r = run(dir, ['--out', tempDir(), '--json']);
      expect(r.code, r.stderr).toBe(0);
      const cells = JSON.parse(r.stdout).cells as { meanLogProb: number }[];
      return cells.reduce((s, c) => s + c.meanLogProb, 0) / cells.length;
    };
    expect(score(trained)).toBeGreaterThan(score(barely) + 1);
  }, 300_000);

  it("takes the user's needles from --needle-file, in turn, and refuses a bad line by its number", () => {
    const dir = tempDir();
    const file = path.join(dir, 'needles.jsonl');
    const mine = [
      { needle: 'The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.', question: 'What is the best thing to do in San Francisco? The best thing to do in San Francisco is', answer: ' eat a sandwich' },
      { needle: 'The passkey is 71432.', question: 'What is the passkey? The passkey is', answer: ' 71432' },
    ];
    fs.writeFileSync(file, mine.map((m) => JSON.stringify(m)).join('\n'));
    const prompts = path.join(dir, 'prompts.jsonl');
    const r = run(barely, ['--needle-file', file, '--lengths', '128', '--depths', '50', '--needles', '3', '--out', dir, '--save-prompts', prompts]);
    expect(r.code, r.stderr).toBe(0);
    expect(readJsonl(prompts).map((p) => p.answer)).toEqual([' eat a sandwich', ' 71432', ' eat a sandwich']);
    fs.writeFileSync(file, `${JSON.stringify(mine[0])}\n{"needle": "x", "question": "y"}\n`);
    const bad = run(barely, ['--needle-file', file, '--out', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^meap: error: .*needles\.jsonl:2: answer: .+ \(write one \{"needle", "question", "answer"\} object a line\)$/);
  }, 300_000);

  it('--attention-stats prints the paper\'s Table 10 beside the loss, per layer and their mean', () => {
    const masked = path.join(tempDir(), 'masked');
    expect(meap(['prepare', haystack, '--out', masked, '--tokenizer', llama2, '--seq-len', '128', '--limit', '3', '--progress', 'none']).code).toBe(0);
    const r = meap(['eval', '--run', trained, '--data', masked, '--attention-stats', '--max-rows', '8', '--backend', 'cpu', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { attention } = JSON.parse(r.stdout) as { attention: { layers: Record<string, number>[]; mean: Record<string, number> } };
    expect(attention.layers.length).toBeGreaterThan(0);
    for (const s of [...attention.layers, attention.mean]) {
      expect(s.maskWeight).toBeGreaterThan(0);
      expect(s.otherWeight).toBeGreaterThan(0);
      expect(s.variance).toBeGreaterThan(0);
    }
    const text = meap(['eval', '--run', trained, '--data', masked, '--attention-stats', '--max-rows', '8', '--backend', 'cpu']);
    expect(text.stdout).toMatch(/\nlayer +to \[MASK\] +to others +variance\n0 +\d\.\d{3}e-\d+ +\d\.\d{3}e-\d+ +\d\.\d{3}e-\d+\n[^]*\nmean +\d/);
  }, 300_000);

  it('refuses in one line: --needle options without --needle, --data with it, a haystack too short', () => {
    const a = meap(['eval', '--run', trained, '--data', haystack, '--lengths', '64']);
    expect(a.code).toBe(2);
    expect(a.stderr.trim()).toBe('meap: error: --lengths goes with --needle (add --needle, or drop it)');
    const b = meap(['eval', '--needle', '--run', trained, '--haystack', haystack, '--data', haystack]);
    expect(b.code).toBe(2);
    expect(b.stderr.trim()).toBe('meap: error: --data does not go with --needle (drop it; --needle reads --haystack)');
    // chunk_1's first record alone: about 2,500 tokens.
    const small = path.join(tempDir(), 'small.jsonl');
    fs.writeFileSync(small, `${fs.readFileSync(haystack, 'utf8').split('\n')[0]}\n`);
    const c = meap(['eval', '--needle', '--run', trained, '--haystack', small, ...grid, '--lengths', '8000', '--out', tempDir()]);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/^meap eval: prompts of up to 8000 tokens are longer than the 128 the model was trained on: past it, RoPE extrapolates\nmeap: error: the haystack holds \d+ tokens with the needle, fewer than the \d+ of context a 8000-token prompt needs \(pass a larger --haystack, or smaller --lengths\)\n$/);
    const d = run(trained, ['--lengths', '9000']);
    expect(d.code).toBe(2);
    expect(d.stderr.trim()).toBe('meap: error: --lengths 9000 is longer than the 8192 tokens the reference model scores (its attention mask is length² floats) (pass --lengths up to 8192)');
  }, 300_000);
});
