/**
 * The mode a run's config asks for, the one place that chooses it: pretrain documents or SFT
 * examples → rows. The main thread and every unit-pool thread get their mode here.
 *
 * Covered through the CLI by test/e2e/prepare.test.ts and test/e2e/prepare-sft.test.ts, whose runs
 * take both paths (one file in the main thread; several files on unit-pool threads).
 */
import type { PrepareConfig } from '../schemas/prepare.ts';
import { pretrainMode } from './pretrain-mode.ts';
import { sftMode } from './sft-mode.ts';
import type { CompiledTemplate } from './template.ts';
import type { TokenizerInfo } from './tokenize/load.ts';
import type { Mode } from './unit.ts';

/** `template`: an SFT run's, compiled against `tok` in the calling thread. */
export function modeOf(cfg: PrepareConfig, tok: TokenizerInfo, template: CompiledTemplate | null): Mode<unknown> {
  if (cfg.mode === 'pretrain') return pretrainMode(cfg, tok);
  if (template === null) throw new Error('an SFT run is planned with its template');
  return sftMode(cfg, tok, template);
}
