/**
 * `meap eval --needle`: a run's checkpoint scored on needle-in-a-haystack prompts over a grid of
 * context lengths and needle depths (issue 22). The prompts come from the pipeline (pipeline/needle.ts,
 * with the run's own tokenizer), the scores from the trainer (trainer/needle-score.ts); this joins the
 * two and writes needle.json, needle.svg and, on request, the prompts.
 *
 * Covered by test/e2e/needle.test.ts, through the CLI.
 */
import * as path from 'node:path';
import { writeSynced } from '../core/durable.ts';
import { MeapError } from '../core/errors.ts';
import { makeDir } from '../core/make-dir.ts';
import type { HubOptions } from '../datasets/hub/http.ts';
import { buildPrompt, gridNeedle } from '../pipeline/needle.ts';
import { readHaystack, readNeedleFile } from '../pipeline/needle-inputs.ts';
import { runTokenizer } from '../pipeline/tokenize/tokenizer-copies.ts';
import { createEncoder } from '../pipeline/tokenize/tokenizer-engines.ts';
import type { ModelShape, NeedleConfig } from '../schemas/train.ts';
import { selectBackend } from '../trainer/backend.ts';
import { loadCheckpoint } from '../trainer/checkpoint.ts';
import { LlamaModel } from '../trainer/model.ts';
import { MAX_PROMPT_TOKENS, scoreAnswer } from '../trainer/needle-score.ts';
import { NEEDLE_SVG, needleSvg } from '../trainer/plot.ts';

export const NEEDLE_JSON = 'needle.json';

/** Characters of haystack read per token of the longest prompt: tokenizers average 2 to 5 a token, and buildPrompt tokenizes only what it needs of them. */
const CHARS_PER_TOKEN = 12;

export interface NeedleCellResult {
  length: number;
  depth: number;
  prompts: number;
  /** Share of the prompts whose answer greedy decoding reproduces exactly. */
  accuracy: number;
  /** The answers' mean log-probability per token, averaged over the prompts. */
  meanLogProb: number;
}

export interface NeedleResult {
  checkpoint: { run: string; step: number };
  settings: {
    lengths: number[];
    depths: number[];
    needles: number;
    seed: number;
    needleFile: string | null;
    haystack: string[];
    tokenizerSha256: string;
    /** The sequence length the run trained on: longer prompts ask RoPE to extrapolate. */
    trainedSeqLen: number;
    backend: string;
  };
  cells: NeedleCellResult[];
}

export async function needleEval(cfg: NeedleConfig, ctx: { hub: HubOptions; log: (line: string) => void }): Promise<{ result: NeedleResult; json: string; svg: string }> {
  const longest = Math.max(...cfg.lengths);
  if (longest > MAX_PROMPT_TOKENS) {
    throw new MeapError('usage', `--lengths ${longest} is longer than the ${MAX_PROMPT_TOKENS} tokens the reference model scores (its attention mask is length² floats)`, {}, `pass --lengths up to ${MAX_PROMPT_TOKENS}`);
  }
  const ckpt = await loadCheckpoint(cfg.run, cfg.step);
  const extra = ckpt.extra as { shape: ModelShape; vocabRows: number; tokenizerSha256: string; seqLen: number };
  const tok = await runTokenizer(extra.tokenizerSha256, cfg.tokenizer);
  const given = cfg.needleFile === undefined ? null : await readNeedleFile(cfg.needleFile);
  const haystack = await readHaystack(cfg.haystack, CHARS_PER_TOKEN * longest, ctx.hub);
  if (longest > extra.seqLen) ctx.log(`prompts of up to ${longest} tokens are longer than the ${extra.seqLen} the model was trained on: past it, RoPE extrapolates`);

  const backend = await selectBackend(cfg.backend);
  const model = new LlamaModel({ ...extra.shape, vocabRows: extra.vocabRows }, 0);
  model.loadWeights(ckpt.params);
  const encoder = await createEncoder(tok, 'bpe', 1);
  const encode = async (text: string) => (await encoder.encodeBatch([text]))[0];
  // Written whole at the end: a run that fails leaves no file that looks like a grid's prompts.
  const saved: string[] = [];
  const cells: NeedleCellResult[] = [];
  try {
    let index = 0;
    for (const length of cfg.lengths) {
      for (const depth of cfg.depths) {
        let exact = 0;
        let logProb = 0;
        for (let i = 0; i < cfg.needles; i++, index++) {
          const spec = gridNeedle(given, cfg.seed, index);
          const p = await buildPrompt(encode, tok.specials.bosId, haystack, length, depth, spec);
          const s = await scoreAnswer(model, p.ids, p.answerIds);
          if (s.exact) exact++;
          logProb += s.meanLogProb;
          if (cfg.savePrompts !== undefined) saved.push(`${JSON.stringify({ length, depth, ...spec, input_ids: [...p.ids], answer_ids: [...p.answerIds] })}\n`);
        }
        cells.push({ length, depth, prompts: cfg.needles, accuracy: exact / cfg.needles, meanLogProb: logProb / cfg.needles });
      }
      ctx.log(`length ${length}: ${cells.filter((c) => c.length === length).reduce((a, c) => a + c.accuracy * c.prompts, 0)} of ${cfg.depths.length * cfg.needles} prompts answered`);
    }
  } finally {
    await encoder.close();
    model.dispose();
  }
  const result: NeedleResult = {
    checkpoint: { run: cfg.run, step: ckpt.step },
    settings: {
      lengths: cfg.lengths,
      depths: cfg.depths,
      needles: cfg.needles,
      seed: cfg.seed,
      needleFile: cfg.needleFile ?? null,
      haystack: cfg.haystack,
      tokenizerSha256: tok.sha256,
      trainedSeqLen: extra.seqLen,
      backend: backend.name,
    },
    cells,
  };
  const out = cfg.out ?? cfg.run;
  await makeDir(out);
  const json = path.join(out, NEEDLE_JSON);
  const svg = path.join(out, NEEDLE_SVG);
  if (cfg.savePrompts !== undefined) await writeSynced(cfg.savePrompts, saved.join(''));
  await writeSynced(json, `${JSON.stringify(result, null, 2)}\n`);
  await writeSynced(svg, needleSvg(cells, `meap eval --needle: ${path.basename(path.resolve(cfg.run))}, step ${ckpt.step}`));
  return { result, json, svg };
}
