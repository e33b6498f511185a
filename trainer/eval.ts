/**
 * `meap eval`: mean loss and perplexity of a run's latest checkpoint over every row (or the first
 * --max-rows) of held-out shards, in manifest order (prepare them with `--mask none` so inputs are
 * the plain text).
 *
 * No unit test: it needs a trained run's checkpoint, so test/e2e/train.test.ts and
 * no-silent-train.test.ts train one and run `meap eval` on it; the loss it sums is
 * test/trainer/model.test.ts's `lossSum`.
 */
import { MeapError, configError } from '../core/errors.ts';
import type { EvalConfig, ModelShape } from '../schemas/train.ts';
import { selectBackend } from './backend.ts';
import { loadLatestCheckpoint } from './checkpoint.ts';
import { openDatasets, sequentialBatches } from './data.ts';
import { ATTENTION_SUMS, LlamaModel } from './model.ts';

/** The paper's Table 10 for one layer, or their mean over layers. */
export interface AttentionStats {
  /** Mean attention weight a query gives a [MASK] key it may attend to. */
  maskWeight: number;
  /** The same for every other key. */
  otherWeight: number;
  /** Variance of the attention weights over every (query, key, head) attention may join. */
  variance: number;
}

/** Per layer, then the mean of each statistic over the layers; `sums`: each layer's ATTENTION_SUMS (trainer/model.ts). */
export function attentionStats(sums: number[][]): { layers: AttentionStats[]; mean: AttentionStats } {
  const at = (name: (typeof ATTENTION_SUMS)[number]) => ATTENTION_SUMS.indexOf(name);
  const layers = sums.map((s) => {
    const pairs = s[at('maskPairs')] + s[at('otherPairs')];
    const mean = (s[at('toMask')] + s[at('toOther')]) / pairs;
    return { maskWeight: s[at('toMask')] / s[at('maskPairs')], otherWeight: s[at('toOther')] / s[at('otherPairs')], variance: s[at('squares')] / pairs - mean * mean };
  });
  const avg = (key: keyof AttentionStats) => layers.reduce((a, l) => a + l[key], 0) / layers.length;
  return { layers, mean: { maskWeight: avg('maskWeight'), otherWeight: avg('otherWeight'), variance: avg('variance') } };
}

export interface EvalResult {
  /** Rows evaluated: all the data holds (`dataRows`), or the first --max-rows. */
  rows: number;
  dataRows: number;
  targets: number;
  meanLoss: number;
  perplexity: number;
  step: number;
  backend: string;
  /** With --attention-stats. */
  attention?: { layers: AttentionStats[]; mean: AttentionStats };
}

/** Rows evaluated so far, of all. */
export interface EvalProgress {
  start(rows: number): void;
  update(rowsDone: number): void;
  stop(): void;
}

export interface EvalContext {
  /** One-line warnings. */
  log?: (line: string) => void;
  progress?: EvalProgress;
}

export async function evaluate(o: Pick<EvalConfig, 'run' | 'data' | 'batchRows' | 'maxRows' | 'backend' | 'attentionStats'>, ctx: EvalContext = {}): Promise<EvalResult> {
  // Every argument is checked before a backend loads.
  const ckpt = await loadLatestCheckpoint(o.run);
  if (ckpt === null) throw new MeapError('usage', 'no complete checkpoint in the run directory', { file: o.run }, 'train first, or point --run at a run directory');
  const ds = await openDatasets(o.data);
  const shape = ckpt.extra.shape as ModelShape;
  const vocabRows = ckpt.extra.vocabRows as number;
  if (ds.info.tokenizerSha256 !== ckpt.extra.tokenizerSha256) {
    throw configError(
      `the held-out data was tokenized with ${ds.info.tokenizerSha256.slice(0, 12)}…, the run with ${String(ckpt.extra.tokenizerSha256).slice(0, 12)}…`,
      "prepare the held-out data with the tokenizer that the run's --data was prepared with",
    );
  }
  // [MASK] inputs make the loss that of a harder task than plain text: still a number, not a perplexity of the text.
  for (const { dir, maskedTokens } of ds.info.masked) {
    ctx.log?.(`warning: ${dir} holds ${maskedTokens.toLocaleString('en-US')} [MASK] tokens, so this is not the perplexity of plain text; prepare held-out data with --mask none (pretrain)`);
  }
  const backend = await selectBackend(o.backend);
  const model = new LlamaModel({ ...shape, vocabRows }, 0);
  model.loadWeights(ckpt.params);
  let sum = 0;
  let targets = 0;
  let rows = 0;
  // Each layer's ATTENTION_SUMS, added over the batches.
  let attention: number[][] | null = null;
  ctx.progress?.start(Math.min(ds.info.rows, o.maxRows ?? Infinity));
  try {
    for await (const batch of sequentialBatches(ds, o.batchRows, o.maxRows)) {
      const { sum: s, count, attention: a } = model.lossSum(batch, o.attentionStats ? ds.info.maskTokenId : undefined);
      // Read without blocking: WebGPU in Node has no synchronous reads.
      sum += ((await s.data()) as Float32Array)[0];
      s.dispose();
      if (a !== undefined) {
        const layers = await a.array();
        a.dispose();
        attention = attention === null ? layers : attention.map((sums, l) => sums.map((v, j) => v + layers[l][j]));
      }
      targets += count;
      rows += batch.rows;
      ctx.progress?.update(rows);
    }
  } finally {
    ctx.progress?.stop();
    model.dispose();
  }
  const meanLoss = targets > 0 ? sum / targets : NaN;
  return { rows, dataRows: ds.info.rows, targets, meanLoss, perplexity: Math.exp(meanLoss), step: ckpt.step, backend: backend.name, ...(attention !== null && { attention: attentionStats(attention) }) };
}
