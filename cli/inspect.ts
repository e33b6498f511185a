/**
 * `meap inspect DIR`: the manifest summary and one row decoded, masked tokens shown as [MASK:original].
 *
 * No unit test: it reads a prepared directory, so test/e2e/prepare.test.ts (pretrain, --json) and
 * test/e2e/prepare-sft.test.ts (sft segments) run it through the CLI; the summary is
 * test/cli/output.test.ts's, the options' defaults test/cli/options.test.ts's.
 */
import type { Command } from 'commander';
import type { InspectedRow } from '../pipeline/inspect.ts';
import { inspect } from '../pipeline/inspect.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { InspectConfigSchema } from '../schemas/inspect.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { summarize } from './output.ts';

const FLAGS: Flags = {
  row: { flags: '--row <n>', help: 'row to decode (0-based, across shards in manifest order)' },
  tokenizer: { flags: '--tokenizer <path>', help: "tokenizer.json to decode with, if not the one at the manifest's recorded path" },
  json: { flags: '--json', help: 'machine-readable output' },
};

/** The row's header line and its decoded text. */
export function describeRow(m: Manifest, row: InspectedRow): string {
  const starts = row.position_ids.filter((p) => p === 0).length;
  return [
    `row ${row.index} (${row.shard}, row ${row.rowInShard}): ${row.input_ids.length} tokens, ${row.masked.length} masked, ${starts} ${m.mode === 'sft' ? 'sequences' : 'segments (position_ids restarts)'}`,
    row.text ?? '(no tokenizer with this sha256 is cached here; pass --tokenizer PATH to decode the text)',
    '',
  ].join('\n');
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('print the manifest summary and one row decoded, masked tokens shown as [MASK:original]')
    .argument('<dir>', 'a meap output directory');
  addOptions(cmd, InspectConfigSchema.shape, FLAGS).action(async (dir: string, _opts: unknown, command: Command) => {
    const cfg = parseConfig(InspectConfigSchema, { ...givenOptions(command, FLAGS), dir }, FLAGS);
    const { manifest, row } = await inspect(cfg.dir, cfg);
    if (cfg.json) process.stdout.write(`${JSON.stringify({ manifest, row })}\n`);
    else process.stdout.write(row === null ? summarize(manifest, dir) : `${summarize(manifest, dir)}\n${describeRow(manifest, row)}`);
  });
}
