import type { Manifest } from '../schemas/manifest.ts';

const n = (x: number) => x.toLocaleString('en-US');

/** The human summary printed after `prepare` and by `inspect`. */
export function summarize(m: Manifest, dir: string): string {
  const skipped = Object.entries(m.totals.skipped);
  const maskedPct = m.totals.tokens > 0 ? ((100 * m.totals.maskedTokens) / m.totals.tokens).toFixed(2) : '0.00';
  const masking =
    m.masking.strategy === 'none'
      ? 'none'
      : `${m.masking.strategy}${m.masking.spanLength !== null ? ` (spans of ${m.masking.spanLength})` : ''}, ratio ${m.masking.ratio}, seed ${m.seed}`;
  return [
    `${dir}: ${m.format} v${m.version}, mode ${m.mode}, seqLen ${m.seqLen}`,
    `  tokenizer  sha256 ${m.tokenizer.sha256.slice(0, 12)}…, vocab ${m.tokenizer.vocabSize}, [MASK] ${m.tokenizer.maskTokenId}, BOS ${m.tokenizer.bosId ?? 'none'}${m.document.bos ? '' : ' (off)'}, EOS ${m.tokenizer.eosId ?? 'none'}${m.document.eos ? '' : ' (off)'}`,
    `  masking    ${masking}`,
    `  inputs     ${m.inputs.length} files, ${n(m.totals.documents)} documents`,
    `  output     ${m.shards.length} shards, ${n(m.totals.rows)} rows, ${n(m.totals.tokens)} tokens, ${n(m.totals.maskedTokens)} masked (${maskedPct}%)`,
    `  skipped    ${skipped.length === 0 ? 'none' : skipped.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`,
    '',
  ].join('\n');
}
