/**
 * One `meap prepare` in this process, through the CLI's bundle as `node bin/meap.js` runs it (the
 * module start-up excluded), with default settings but those given; prints tokens/s and this
 * process's peak RSS as JSON. The TypeScript sources run through tsx would not be the code users run:
 * on the main thread, --workers 1 ran 5-10% slower through them.
 *
 *   npx tsx bench/prepare-once.ts INPUT OUT TOKENIZER WORKERS [MASK] [ENGINE]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadMain } from '../bin/load-main.js';

const [input, out, tokenizer, workers, mask = 'random', engine = 'bpe'] = process.argv.slice(2);
const { main } = await loadMain();
const argv = ['prepare', input, '-o', out, '-t', tokenizer, '--workers', workers, '--mask', mask, '--engine', engine, '--progress', 'none', '--overwrite'];
const t0 = performance.now();
// The CLI prints its summary first; bench/pipeline.ts reads this script's last line.
const code = await main([process.argv[0], 'meap', ...argv]);
const seconds = (performance.now() - t0) / 1000;
if (code !== 0) throw new Error(`meap ${argv.join(' ')} exited ${code}`);
const m = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as { totals: { tokens: number; rows: number } };
console.log(
  JSON.stringify({
    tokens: m.totals.tokens,
    rows: m.totals.rows,
    seconds: +seconds.toFixed(2),
    tokensPerSec: Math.round(m.totals.tokens / seconds),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
