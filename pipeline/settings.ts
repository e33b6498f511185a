import { DEFAULT_TEXT_FIELD, type PrepareConfig } from '../schemas/prepare.ts';
import { SFT_MASK_STRATEGY } from '../schemas/enums.ts';
import type { RunSettings } from '../schemas/settings.ts';
import type { CompiledTemplate } from './template.ts';
import type { LoadedTokenizer } from './tokenize/load.ts';

/** Everything that decides the output's bytes, in a fixed order; stored in the work state and the manifest. */
export function settingsOf(cfg: PrepareConfig, tok: LoadedTokenizer, template: CompiledTemplate | null): RunSettings {
  const pretrain = cfg.mode === 'pretrain' ? cfg : null;
  const sft = cfg.mode === 'sft' ? cfg : null;
  return {
    mode: cfg.mode,
    format: cfg.format ?? null,
    // SFT reads its own fields, not --text-field; the recorded value is the default it never uses.
    textField: pretrain?.textField ?? DEFAULT_TEXT_FIELD,
    excludeSets: [...(pretrain?.excludeSets ?? [])].sort(),
    limit: cfg.limit ?? null,
    bos: cfg.bos,
    eos: cfg.eos,
    seqLen: cfg.seqLen,
    mask: pretrain?.mask ?? SFT_MASK_STRATEGY,
    maskRatio: cfg.maskRatio,
    spanLength: pretrain?.spanLength ?? null,
    seed: cfg.seed,
    shardRows: cfg.shardRows,
    onError: cfg.onError,
    maxDocChars: cfg.maxDocChars,
    template: template?.name ?? null,
    templateSha256: template?.sha256 ?? null,
    minAnswerTokens: sft?.minAnswerTokens ?? null,
    sftLayout: sft?.sftLayout ?? null,
    pack: sft?.pack ?? null,
    tokenizer: {
      sha256: tok.sha256,
      vocabSize: tok.specials.vocabSize,
      maskTokenId: tok.specials.maskTokenId,
      bosId: tok.specials.bosId,
      eosId: tok.specials.eosId,
    },
  };
}
