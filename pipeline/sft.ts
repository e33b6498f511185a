/**
 * MEAP for fine-tuning, pure functions: one example (prompt ids, answer ids) → the rows it
 * contributes. Long answers are duplicated and only the copy's answer is masked; the loss covers
 * the original's answer and the copy's masked tokens. Labels use -100 for "no loss", as Hugging
 * Face trainers do.
 *
 * Covered by test/pipeline/sft.test.ts and test/e2e/prepare-sft.test.ts.
 */
import { IGNORE_INDEX } from '../core/constants.ts';
import type { Rng } from '../core/rng.ts';
import type { SftLayout } from '../schemas/enums.ts';
import { maskPositions } from './mask.ts';

export interface SftSpec {
  seqLen: number;
  ratio: number;
  minAnswerTokens: number;
  layout: SftLayout;
  maskTokenId: number;
  bosId: number | null;
  eosId: number | null;
}

/** One model sequence: position_ids run through it from 0. */
export interface SftSequence {
  inputIds: Int32Array;
  labels: Int32Array;
  positions: Int32Array;
  masked: number;
}

export type SftOutcome =
  /** `eligible`: the copy's answer tokens, which its mask is a share of (0 when not duplicated). */
  | { kind: 'rows'; sequences: SftSequence[]; duplicated: boolean; truncated: boolean; layoutFallback: boolean; eligible: number }
  | { kind: 'skip'; reason: 'promptTooLong' };

export function buildExample(prompt: ArrayLike<number>, answerIds: ArrayLike<number>, spec: SftSpec, rng: () => Rng): SftOutcome {
  const bos = spec.bosId === null ? 0 : 1;
  const eos = spec.eosId === null ? 0 : 1;
  const sourceLen = bos + prompt.length;
  // Truncate from the end of the answer, keeping EOS; the MEAP threshold then counts what is left.
  const room = spec.seqLen - sourceLen - eos;
  if (room <= 0) return { kind: 'skip', reason: 'promptTooLong' };
  const n = Math.min(answerIds.length, room);
  const truncated = n < answerIds.length;
  const len = sourceLen + n + eos;

  const ids = new Int32Array(len);
  if (bos) ids[0] = spec.bosId!;
  ids.set(prompt, bos);
  for (let i = 0; i < n; i++) ids[sourceLen + i] = answerIds[i];
  if (eos) ids[len - 1] = spec.eosId!;
  const labels = ids.slice();
  labels.fill(IGNORE_INDEX, 0, sourceLen);
  const original: SftSequence = { inputIds: ids, labels, positions: iota(len), masked: 0 };

  if (n <= spec.minAnswerTokens) return { kind: 'rows', sequences: [original], duplicated: false, truncated, layoutFallback: false, eligible: 0 };

  const eligible = new Uint8Array(len);
  eligible.fill(1, sourceLen, sourceLen + n);
  const masked = maskPositions(eligible, { strategy: 'sft-duplicate', ratio: spec.ratio, spanLength: null, maskTokenId: spec.maskTokenId }, rng());
  const copyIds = ids.slice();
  const copyLabels = new Int32Array(len).fill(IGNORE_INDEX);
  for (const p of masked) {
    copyIds[p] = spec.maskTokenId;
    copyLabels[p] = ids[p];
  }
  const copy: SftSequence = { inputIds: copyIds, labels: copyLabels, positions: iota(len), masked: masked.length };

  if (spec.layout === 'concat' && 2 * len <= spec.seqLen) {
    const pair = concat([original, copy]);
    pair.positions = iota(2 * len);
    return { kind: 'rows', sequences: [pair], duplicated: true, truncated, layoutFallback: false, eligible: n };
  }
  return { kind: 'rows', sequences: [original, copy], duplicated: true, truncated, layoutFallback: spec.layout === 'concat', eligible: n };
}

/** Sequences one after another, each keeping its own position_ids. */
export function concat(parts: SftSequence[]): SftSequence {
  if (parts.length === 1) return parts[0];
  const len = parts.reduce((s, p) => s + p.inputIds.length, 0);
  const out: SftSequence = { inputIds: new Int32Array(len), labels: new Int32Array(len), positions: new Int32Array(len), masked: 0 };
  let at = 0;
  for (const p of parts) {
    out.inputIds.set(p.inputIds, at);
    out.labels.set(p.labels, at);
    out.positions.set(p.positions, at);
    out.masked += p.masked;
    at += p.inputIds.length;
  }
  return out;
}

function iota(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}
