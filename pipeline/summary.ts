import type { Manifest } from '../schemas/manifest.ts';

const n = (x: number) => x.toLocaleString('en-US');

/** The human summary printed after `prepare` and by `inspect`. */
export function summarize(m: Manifest, dir: string): string {
  const skipped = Object.entries(m.totals.skipped);
  const maskedPct = m.totals.tokens > 0 ? ((100 * m.totals.maskedTokens) / m.totals.tokens).toFixed(2) : '0.00';
  const framing = m.mode === 'pretrain' ? m.document : m.sft;
  const lines = [
    `${dir}: ${m.format} v${m.version}, mode ${m.mode}, seqLen ${m.seqLen}`,
    `  tokenizer  sha256 ${m.tokenizer.sha256.slice(0, 12)}…, vocab ${m.tokenizer.vocabSize}, [MASK] ${m.tokenizer.maskTokenId}, BOS ${m.tokenizer.bosId ?? 'none'}${framing.bos ? '' : ' (off)'}, EOS ${m.tokenizer.eosId ?? 'none'}${framing.eos ? '' : ' (off)'}`,
  ];
  if (m.mode === 'pretrain') {
    const k = m.masking;
    lines.push(
      `  masking    ${k.strategy === 'none' ? 'none' : `${k.strategy}${k.spanLength !== null ? ` (spans of ${k.spanLength})` : ''}, ratio ${k.ratio}, seed ${m.seed}`}`,
      `  inputs     ${m.inputs.length} files, ${n(m.totals.documents)} documents`,
    );
  } else {
    const k = m.masking;
    const t = m.totals;
    lines.push(
      `  masking    sft-duplicate, ratio ${k.ratio} of answers over ${k.minAnswerTokens} tokens, layout ${k.layout}${m.sft.pack ? ', packed' : ''}, template ${m.sft.template}, seed ${m.seed}`,
      `  inputs     ${m.inputs.length} files, ${n(t.examples)} examples: ${n(t.duplicated)} duplicated, ${n(t.ntpOnly)} next-token only, ${n(t.truncated)} truncated, ${n(t.layoutFallbacks)} concat fallbacks`,
    );
  }
  lines.push(
    `  output     ${m.shards.length} shards, ${n(m.totals.rows)} rows, ${n(m.totals.tokens)} tokens, ${n(m.totals.maskedTokens)} masked (${maskedPct}%)`,
    `  skipped    ${skipped.length === 0 ? 'none' : skipped.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`,
    '',
  );
  return lines.join('\n');
}
