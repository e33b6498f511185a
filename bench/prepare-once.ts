/** One `prepare` run in its own process; prints tokens/s and this process's peak RSS as JSON. */
import { PrepareConfigSchema } from '../schemas/prepare.ts';
import { prepareProgress } from '../cli/output.ts';
import { prepare } from '../pipeline/run.ts';

const [input, out, tokenizer, workers, mask = 'random', engine = 'bpe'] = process.argv.slice(2);
const cfg = PrepareConfigSchema.parse({ inputs: [input], out, tokenizer, workers: Number(workers), mask, engine, progress: 'none', overwrite: true });
const t0 = performance.now();
const m = (await prepare(cfg, { progress: prepareProgress('none'), signal: new AbortController().signal, hub: {} })).manifest!;
const seconds = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    tokens: m.totals.tokens,
    rows: m.totals.rows,
    seconds: +seconds.toFixed(2),
    tokensPerSec: Math.round(m.totals.tokens / seconds),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
