/**
 * `meap inspect DIR`: the manifest summary and rows decoded, masked tokens shown as [MASK:original].
 *
 * No unit test: it reads a prepared directory, so test/e2e/prepare.test.ts (pretrain, --json),
 * test/e2e/prepare-sft.test.ts (sft segments) and test/e2e/first-hour.test.ts (--rows, --limit,
 * spans, byte tokens) run it through the CLI; the summary is
 * test/cli/output.test.ts's, the options' defaults test/cli/options.test.ts's.
 */
import type { Command } from 'commander';
import type { InspectedRow } from '../pipeline/inspect.ts';
import { inspect } from '../pipeline/inspect.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { InspectArgsSchema, InspectConfigSchema } from '../schemas/inspect.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { count, n, summarize } from './output.ts';

const FLAGS: Flags = {
  row: { flags: '--row <n>', help: 'row to decode (0-based, across shards in manifest order)' },
  rows: { flags: '--rows <A..B>', help: 'rows A to B, both included (A.. for A to the last row)' },
  limit: { flags: '--limit <n>', help: 'decode at most N rows, from --row or the start of --rows (default: one row, or all of --rows)' },
  tokenizer: {
    flags: '--tokenizer <path>',
    help: 'tokenizer.json (or a folder holding one) to decode with (default: the copy `meap prepare` cached under $MEAP_CACHE, found by the sha256 the manifest records)',
  },
  json: { flags: '--json', help: 'machine-readable output' },
};

/** The row's header line and its decoded text. */
export function describeRow(m: Manifest, row: InspectedRow): string {
  const starts = row.position_ids.filter((p) => p === 0).length;
  return [
    `row ${row.index} (${row.shard}, row ${row.rowInShard}): ${count(row.input_ids.length, 'token')}, ${n(row.masked.length)} masked, ${m.mode === 'sft' ? count(starts, 'sequence') : `${count(starts, 'segment')} (position_ids restarts)`}`,
    row.text ?? '(no tokenizer with this sha256 is cached here; pass --tokenizer PATH to decode the text)',
    '',
  ].join('\n');
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('print the manifest summary and rows decoded, masked tokens shown as [MASK:original] (a run of them as [MASK×N:original])')
    .argument('<dir>', 'a meap output directory');
  addOptions(cmd, InspectConfigSchema.shape, FLAGS).action(async (dir: string, _opts: unknown, command: Command) => {
    const cfg = parseConfig(InspectArgsSchema, { ...givenOptions(command, FLAGS), dir }, FLAGS);
    const { manifest, row, rows } = await inspect(cfg.dir, cfg);
    if (cfg.json) process.stdout.write(`${JSON.stringify({ manifest, row, rows })}\n`);
    else process.stdout.write([summarize(manifest, dir), ...rows.map((r) => describeRow(manifest, r))].join('\n'));
  });
}
