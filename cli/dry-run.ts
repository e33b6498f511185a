/**
 * What `meap prepare --dry-run` prints: every file the run would read (and whether an earlier run
 * already finished it), every file it would skip and why, the masked share the settings give, and
 * what it would do with --out. Run through the CLI by test/e2e/dry-run.test.ts.
 */
import * as path from 'node:path';
import { isHubUri } from '../datasets/hub/uri.ts';
import type { SkipReason } from '../datasets/types.ts';
import type { DryRun } from '../pipeline/dry-run.ts';
import { MASKED_SHARE_WARNING } from '../pipeline/mask-share.ts';
import { maskTakes } from '../schemas/enums.ts';
import type { PrepareConfig } from '../schemas/prepare.ts';
import { bytes, count, n } from './output.ts';

const SKIP_REASONS: Record<SkipReason, string> = {
  noInputExtension: 'no input extension (pass --format to read it)',
  insideOutput: 'inside --out',
};

function describeMask(d: DryRun, cfg: PrepareConfig): string {
  const { share, of, short } = d.mask;
  const masked = (what: string) => `${n(Math.round(share * of))} of ${what} masked (${(100 * share).toFixed(2)}%)${short ? `: under ${100 * MASKED_SHARE_WARNING}% of --mask-ratio ${cfg.maskRatio}, and the run will warn` : ''}`;
  if (cfg.mode === 'sft') {
    return `sft-duplicate, ratio ${cfg.maskRatio}: answers over ${n(cfg.minAnswerTokens)} tokens are duplicated; the shortest of them gets ${masked(`its ${n(of)} tokens`)}`;
  }
  if (!maskTakes(cfg.mask, 'maskRatio')) return cfg.mask;
  const spans = cfg.spanLength !== null ? `spans of ${cfg.spanLength}, ` : '';
  return `${cfg.mask}, ${spans}ratio ${cfg.maskRatio}: a full ${n(cfg.seqLen)}-token row of one document gets ${masked(`its ${n(of)} eligible positions`)}`;
}

function describeOut(d: DryRun, cfg: PrepareConfig): string {
  if ('refused' in d.out) return `refused: ${d.out.refused}`;
  const done = d.mine.filter((m) => m.done).length;
  switch (d.out.state) {
    case 'complete':
      return 'already complete with these settings: the run would do nothing';
    case 'resume':
      return `resumes an unfinished run: ${done} of ${count(d.mine.length, 'input')} done`;
    case 'fresh':
      return d.out.replaces.length === 0 ? 'a new run' : `a new run, replacing ${count(d.out.replaces.length, 'entry', 'entries')} of ${cfg.overwrite ? 'the run there (--overwrite)' : 'a run that finished no input'}`;
  }
}

export function describeDryRun(d: DryRun, cfg: PrepareConfig): string {
  const width = Math.max(0, ...[...d.mine.map((m) => m.file.size), ...d.skipped.map((s) => s.size)].map((s) => bytes(s).length));
  const size = (s: number) => bytes(s).padStart(width);
  const total = d.mine.reduce((s, m) => s + m.file.size, 0);
  const { index, of } = d.partition;
  const t = d.tok.specials;
  return [
    `${cfg.out}: dry run: no record was read and nothing was written`,
    `  inputs     ${count(d.mine.length, 'file')}, ${bytes(total)}${of > 1 ? ` (partition ${index} of ${of}; ${count(d.files.length, 'file')} in all)` : ''}`,
    ...d.mine.map((m) => `    ${size(m.file.size)}  ${m.file.rel}  ${m.file.format}${m.done ? ' (done: the run skips it)' : ''}`),
    `  skipped    ${d.skipped.length === 0 ? 'none' : count(d.skipped.length, 'file')}`,
    ...d.skipped.map((s) => `    ${size(s.size)}  ${isHubUri(s.file) ? s.file : path.relative(process.cwd(), s.file)}: ${SKIP_REASONS[s.reason]}`),
    `  tokenizer  sha256 ${d.tok.sha256.slice(0, 12)}…, vocab ${n(t.vocabSize)}, [MASK] ${t.maskTokenId}`,
    `  masking    ${describeMask(d, cfg)}`,
    `  out        ${describeOut(d, cfg)}`,
    '',
  ].join('\n');
}
