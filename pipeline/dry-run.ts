/**
 * `meap prepare --dry-run`: what a run with these options would read, skip, mask and do with --out,
 * from the same checks `prepare` makes before it writes (planRun, planOutDir), reading no record and
 * writing nothing. Covered through the CLI by test/e2e/dry-run.test.ts.
 */
import { MeapError } from '../core/errors.ts';
import type { InputFile } from '../datasets/types.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import { maskTakes, SFT_MASK_STRATEGY } from '../schemas/enums.ts';
import { fullRowEligible, segmentMaskedShare, type MaskSettings } from './mask.ts';
import { fallsShort } from './mask-share.ts';
import { planOutDir, type OutDirPlan } from './outdir.ts';
import { planRun, type PrepareContext, type RunPlan } from './run.ts';
import { inPartition } from './workstate/partition.ts';
import { readUnitResult } from './workstate/run-records.ts';

export interface DryRun extends RunPlan {
  /** This partition's inputs, each with whether an earlier run in --out finished it (the run skips those). */
  mine: { file: InputFile; done: boolean }[];
  /** What the run would do with --out, or the one line it would stop with there. */
  out: OutDirPlan | { refused: string };
  /**
   * The masked share the settings give where the spec's floors bite least: a full row of one
   * document (pretrain), the shortest answer that is duplicated (sft); with its eligible count.
   */
  mask: { share: number; of: number; short: boolean };
}

export async function dryRun(cfg: PrepareConfig, ctx: Pick<PrepareContext, 'hub'>): Promise<DryRun> {
  const plan = await planRun(cfg, ctx);
  let out: DryRun['out'];
  try {
    out = await planOutDir(cfg.out, plan.run, cfg.overwrite);
  } catch (e) {
    if (!(e instanceof MeapError)) throw e;
    out = { refused: e.message };
  }
  const state = 'state' in out ? out.state : null;
  const done = async (file: InputFile) => state === 'complete' || (state === 'resume' && (await readUnitResult(cfg.out, file.rel)) !== null);
  const mine = await Promise.all(plan.files.filter((_, i) => inPartition(i, plan.partition)).map(async (file) => ({ file, done: await done(file) })));
  return { ...plan, mine, out, mask: maskedShare(cfg) };
}

function maskedShare(cfg: PrepareConfig): DryRun['mask'] {
  const settings: MaskSettings =
    cfg.mode === 'sft' ? { strategy: SFT_MASK_STRATEGY, ratio: cfg.maskRatio, spanLength: null } : { strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: cfg.spanLength };
  const of = cfg.mode === 'sft' ? cfg.minAnswerTokens + 1 : fullRowEligible(cfg.seqLen);
  const share = segmentMaskedShare(settings, of);
  // A strategy without a ratio cannot fall short of one.
  return { share, of, short: maskTakes(settings.strategy, 'maskRatio') && cfg.maskRatio > 0 && fallsShort(share, cfg.maskRatio) };
}
