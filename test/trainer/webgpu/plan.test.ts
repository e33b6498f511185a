/**
 * The step's plan, made without a GPU: what it executes against the model's FLOPs, that every GEMM
 * fills a large GPU, that every call binds planned buffers, and the JSON `bench:gpu -- --plan` prints.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PRECISIONS } from '../../../schemas/enums.ts';
import { embeddingRows, PRESETS } from '../../../schemas/train.ts';
import type { Buf, BufRange } from '../../../trainer/webgpu/kernel.ts';
import { DEFAULT_LIMITS } from '../../../trainer/webgpu/kernel.ts';
import { familyFlops, modelFlopsPerToken, planStep, planSummary } from '../../../trainer/webgpu/plan.ts';
import { repoRoot } from '../../helpers/cli.ts';

const vocabRows = embeddingRows(32000, 32000);
const BIG = { ...DEFAULT_LIMITS, maxStorageBufferBindingSize: 2 ** 31 - 4, maxBufferSize: 2 ** 31 };
const plan100m = (precision: 'f32' | 'mixed', o: { keepLogits?: boolean } = {}) =>
  planStep({ model: { ...PRESETS['100m'], vocabRows }, rows: 8, seqLen: 1024, precision, micros: 1, limits: BIG, ...o });

describe('the 100m plan at 8 × 1024', () => {
  for (const precision of PRECISIONS) {
    it(`${precision}: executes at most 1.03× the model's FLOPs, and every GEMM launches at least 256 workgroups`, () => {
      const s = planSummary(plan100m(precision));
      const ratio = s.executedFlops / s.modelFlops;
      expect(ratio).toBeLessThanOrEqual(1.03);
      // Pinned: the products the model needs, plus FlashAttention-2's fifth backward product and the
      // causal diagonal tiles computed whole (attention is a tenth of this model's FLOPs at 1024).
      expect(ratio).toBeCloseTo(1.0157, 4);
      // Pinned: the K and V projections (8192 × 128 × 768) at 64 × 64 tiles.
      expect(Math.min(...s.gemms.map((g) => g.workgroups))).toBe(256);
      expect(s.modelFlops).toBe(modelFlopsPerToken({ ...PRESETS['100m'], vocabRows }, 1024) * 8 * 1024);
    });
  }

  it('keeps the logits between the loss and the backward; computing them again costs one more pass through the head', () => {
    const kept = plan100m('f32');
    const again = plan100m('f32', { keepLogits: false });
    expect(kept.keepLogits).toBe(true);
    const N = 8 * 1024;
    const head = 2 * N * PRESETS['100m'].hidden * vocabRows;
    expect(planSummary(again).executedFlops - planSummary(kept).executedFlops).toBe(head);
    expect(planSummary(again).peakBytes).toBeLessThan(planSummary(kept).peakBytes);
  });

  it('binds only planned buffers, and sums its FLOPs by family to the whole', () => {
    const plan = plan100m('mixed');
    const planned = new Set<Buf>(plan.buffers);
    for (const p of [...plan.forward, ...plan.finish.flat(), ...plan.backward, ...plan.update]) {
      for (const [name, b] of Object.entries(p.call.buffers)) {
        const buf = 'buffer' in b ? (b as BufRange).buffer : b;
        expect(planned.has(buf), `${p.call.label} binds ${name} = ${buf.label}, not a planned buffer`).toBe(true);
      }
    }
    const byFamily = familyFlops(plan, 1);
    expect(Object.values(byFamily).reduce((a, b) => a + b, 0)).toBe(planSummary(plan).executedFlops);
    expect(byFamily['matmul forward']).toBeGreaterThan(0);
    expect(byFamily['attention backward']).toBeGreaterThan(byFamily['attention forward']);
  });
});

it('plans with WebGPU default limits too (smaller logits chunks)', () => {
  const plan = planStep({ model: { ...PRESETS.tiny, vocabRows }, rows: 8, seqLen: 1024, precision: 'f32', micros: 2 });
  expect(plan.finish).toHaveLength(2);
  expect(plan.gemms.some((g) => g.name === 'lm head')).toBe(true);
});

it('refuses, naming the buffer, a step whose activation exceeds one binding', () => {
  expect(() => planStep({ model: { ...PRESETS['1b'], vocabRows }, rows: 8, seqLen: 1024, precision: 'f32', micros: 1 })).toThrow(/MiB in one binding/);
});

it('bench:gpu -- --plan prints one JSON line per preset and precision, without a GPU', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'bench/gpu.ts'), '--plan', '--presets', 'tiny,100m', '--rows', '2', '--seq-len', '256'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.map((l) => [l.preset, l.precision, l.rows, l.seqLen])).toEqual([
    ['tiny', 'f32', 2, 256],
    ['tiny', 'mixed', 2, 256],
    ['100m', 'f32', 2, 256],
    ['100m', 'mixed', 2, 256],
  ]);
  for (const l of lines) {
    expect(Object.keys(l)).toEqual(['preset', 'rows', 'seqLen', 'precision', 'modelFlops', 'executedFlops', 'peakBytes', 'gemms']);
    expect(Object.keys(l.gemms[0])).toEqual(['name', 'm', 'n', 'k', 'tile', 'splitK', 'workgroups']);
  }
});
