/**
 * The settings a `prepare` records (schemas/settings.ts), from its config and what planning settled.
 * Covered by test/pipeline/settings.test.ts.
 */
import { DEFAULT_TEXT_FIELD, type PrepareConfig } from '../schemas/prepare.ts';
import { SFT_MASK_STRATEGY } from '../schemas/enums.ts';
import type { RunSettings } from '../schemas/settings.ts';
import { SFT_PACKING } from './sft-pack.ts';
import type { CompiledTemplate } from './template.ts';
import type { LoadedTokenizer } from './tokenize/load.ts';

/** Everything that decides the output's bytes, in a fixed order; stored in the work state and the manifest. */
export function settingsOf(cfg: PrepareConfig, tok: LoadedTokenizer, template: CompiledTemplate | null): RunSettings {
  // Keys both modes share, spread where they stand in the schema's key order: run.json is written in
  // this order, and a rerun's settings are compared with it as text.
  const format = cfg.format ?? null;
  const framing = { limit: cfg.limit ?? null, bos: cfg.bos, eos: cfg.eos, seqLen: cfg.seqLen };
  const run = { seed: cfg.seed, shardRows: cfg.shardRows, onError: cfg.onError, maxDocChars: cfg.maxDocChars };
  const tokenizer = {
    sha256: tok.sha256,
    vocabSize: tok.specials.vocabSize,
    maskTokenId: tok.specials.maskTokenId,
    bosId: tok.specials.bosId,
    eosId: tok.specials.eosId,
  };
  if (cfg.mode === 'pretrain') {
    const nulls = { template: null, templateSha256: null, minAnswerTokens: null, sftLayout: null, pack: null };
    const mask = { mask: cfg.mask, maskRatio: cfg.maskRatio, spanLength: cfg.spanLength };
    return { mode: cfg.mode, format, textField: cfg.textField, excludeSets: [...cfg.excludeSets].sort(), ...framing, ...mask, ...run, ...nulls, tokenizer };
  }
  if (template === null) throw new Error('an SFT run is planned with its template');
  return {
    mode: cfg.mode,
    format,
    // SFT reads its own fields, not --text-field; the recorded value is the default it never uses.
    textField: DEFAULT_TEXT_FIELD,
    excludeSets: [],
    ...framing,
    mask: SFT_MASK_STRATEGY,
    maskRatio: cfg.maskRatio,
    spanLength: null,
    ...run,
    template: template.name,
    templateSha256: template.sha256,
    minAnswerTokens: cfg.minAnswerTokens,
    sftLayout: cfg.sftLayout,
    pack: cfg.pack ? SFT_PACKING : false,
    tokenizer,
  };
}
