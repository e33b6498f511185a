/**
 * Whether a run masks what its settings ask for: span settings under which no row can get a span
 * are refused before anything is read, and a finished run whose masked share fell short is warned
 * about, in the summary and the manifest. The per-row counts stay as the mask specification gives
 * them: changing them would change every shard.
 */
import { MeapError } from '../core/errors.ts';
import { maskTakes } from '../schemas/enums.ts';
import type { PretrainConfig } from '../schemas/prepare.ts';
import type { RunSettings } from '../schemas/settings.ts';
import { fullRowMaskedShare, longestSpanForSeqLen, smallestSeqLenForSpan, type MaskSettings } from './mask.ts';

/** A run that masks less than this share of what --mask-ratio asks for is warned about. */
export const MASKED_SHARE_WARNING = 0.9;

/** Refuses span settings under which even a full row of one document gets no span. */
export function checkSpanFits(cfg: Pick<PretrainConfig, 'mask' | 'maskRatio' | 'spanLength' | 'seqLen'>): void {
  const L = cfg.spanLength;
  if (L === null || cfg.maskRatio === 0) return;
  if (fullRowMaskedShare({ strategy: cfg.mask, ratio: cfg.maskRatio, spanLength: L }, cfg.seqLen) > 0) return;
  const seqLen = smallestSeqLenForSpan(cfg.maskRatio, L);
  const span = longestSpanForSeqLen(cfg.maskRatio, cfg.seqLen);
  const fixes = [seqLen === null ? null : `--seq-len ${seqLen} or more`, span === 0 ? null : `--span-length ${span} or less`].filter((f) => f !== null);
  throw new MeapError(
    'usage',
    `--span-length ${L} does not fit a ${cfg.seqLen}-token row: at --mask-ratio ${cfg.maskRatio} no row would get a single span, and nothing would be masked`,
    {},
    fixes.length > 0 ? `pass ${fixes.join(', or ')}` : 'raise --mask-ratio',
  );
}

/** Whether `share` is under MASKED_SHARE_WARNING of `ratio`: what the summary warns about, and a dry run foretells. */
export function fallsShort(share: number, ratio: number): boolean {
  // With a little slack: 0.9 × 0.1 is 0.09000000000000001 in doubles, and 9 of 100 is no shortfall.
  return share < MASKED_SHARE_WARNING * ratio * (1 - 1e-9);
}

/**
 * The warning for a run that masked under MASKED_SHARE_WARNING of --mask-ratio, counted as the
 * specification counts: masked positions of the eligible ones (pretrain: every position of a row
 * but specials and its last; sft: the duplicated answers' tokens). Null when it did not.
 */
export function maskShortfall(st: RunSettings, masked: number, eligible: number): string | null {
  if (!maskTakes(st.mask, 'maskRatio') || st.maskRatio === 0) return null;
  if (eligible === 0) {
    return st.mode === 'sft'
      ? `no answer has more than --min-answer-tokens ${st.minAnswerTokens} tokens: nothing was duplicated or masked (lower --min-answer-tokens)`
      : 'no row has a position that masking may touch: nothing was masked (raise --seq-len)';
  }
  const share = masked / eligible;
  if (!fallsShort(share, st.maskRatio)) return null;
  const settings: MaskSettings = { strategy: st.mask, ratio: st.maskRatio, spanLength: st.spanLength };
  const why =
    st.mode === 'sft'
      ? `an answer of n tokens gets max(1, floor(${st.maskRatio} × n)) masked, so short answers get less; raise --min-answer-tokens`
      : `a full ${st.seqLen}-token row gets ${pct(fullRowMaskedShare(settings, st.seqLen))}; raise --seq-len${maskTakes(st.mask, 'spanLength') ? ' or lower --span-length' : ''}`;
  return `masked ${pct(share)} of the eligible positions, under ${100 * MASKED_SHARE_WARNING}% of --mask-ratio ${st.maskRatio} (${why})`;
}

const pct = (share: number) => `${(100 * share).toFixed(2)}%`;
