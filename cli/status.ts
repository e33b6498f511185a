/**
 * `meap status DIR`: where a `prepare` output directory stands. An unfinished one (interrupted, or
 * partitions still at work) shows its inputs done and to do, its partitions and their locks, its
 * settings and the commands that finish it; a finished one says so. Exit 0 either way: it is a
 * question, not a check (`meap verify` is the check, and refuses an unfinished directory).
 *
 * No unit test: test/e2e/no-silent-masking.test.ts runs it through the CLI on an interrupted run, a
 * partitioned one and a finished one; the status itself is pipeline/workstate/status.ts's.
 */
import type { Command } from 'commander';
import { readManifest } from '../datasets/shards/read.ts';
import { runStatus, type RunStatus } from '../pipeline/workstate/status.ts';
import type { RunSettings } from '../schemas/settings.ts';
import { StatusConfigSchema } from '../schemas/status.ts';
import { addOptions, givenOptions, parseConfig, type Flags } from './options.ts';
import { count, n } from './output.ts';

const FLAGS: Flags = {
  json: { flags: '--json', help: 'machine-readable output: every input, partition and lock' },
};

/** A few names, then how many more: a directory may have thousands of inputs (--json lists them all). */
const some = (names: string[]) => (names.length <= 3 ? names.join(', ') : `${names.slice(0, 3).join(', ')}, … (${n(names.length - 3)} more)`);

function describeSettings(st: RunSettings): string {
  return Object.entries(st)
    .filter(([, v]) => v !== null && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => {
      if (k === 'tokenizer') return `tokenizer sha256 ${st.tokenizer.sha256.slice(0, 12)}…`;
      // SFT's packing is an object: its algorithm and window.
      return `${k} ${Array.isArray(v) ? v.join(' ') : v !== null && typeof v === 'object' ? Object.values(v).join(' ') : String(v)}`;
    })
    .join(', ');
}

function describePartitions(s: RunStatus): string | null {
  const of = s.partitions.length;
  const holder = (h: { pid?: number; host?: string }) => `process ${h.pid ?? '?'} on ${h.host ?? '?'}`;
  if (of === 1) return s.partitions[0].heldBy === null ? null : `at work: ${holder(s.partitions[0].heldBy)}`;
  const parts = s.partitions.map((p) => `${p.index} ${p.done ? 'done' : p.heldBy !== null ? `at work (${holder(p.heldBy)})` : 'to do'}`);
  return `${of}: ${parts.join(', ')}`;
}

function describeStatus(s: RunStatus, dir: string): string {
  const done = s.inputs.filter((x) => x.done).map((x) => x.path);
  const todo = s.inputs.filter((x) => !x.done).map((x) => x.path);
  const partitions = describePartitions(s);
  const finish =
    s.finish === null
      ? ['rerun the `meap prepare` command that started it, with the settings above']
      : s.finish.length === 0
        ? ['nothing to run: wait for the process at work in it']
        : s.finish;
  return [
    `${dir}: unfinished \`meap prepare\`, ${done.length} of ${count(s.inputs.length, 'input')} done`,
    `  done       ${done.length === 0 ? 'none' : some(done)}`,
    `  to do      ${todo.length === 0 ? 'none' : some(todo)}`,
    ...(partitions === null ? [] : [`  partitions ${partitions}`]),
    `  settings   ${describeSettings(s.settings)}`,
    ...finish.map((line, i) => `${i === 0 ? '  finish     ' : '             '}${line}`),
    '',
  ].join('\n');
}

export function registerStatus(program: Command): void {
  const cmd = program
    .command('status')
    .description('where a `prepare` output directory stands: inputs done, partitions at work, settings, and the commands that finish it')
    .argument('<dir>', 'a meap output directory, finished or not');
  addOptions(cmd, StatusConfigSchema.shape, FLAGS).action(async (dir: string, _opts: unknown, command: Command) => {
    const cfg = parseConfig(StatusConfigSchema, { ...givenOptions(command, FLAGS), dir }, FLAGS);
    const status = await runStatus(cfg.dir);
    if (status !== null) {
      process.stdout.write(cfg.json ? `${JSON.stringify({ complete: false, ...status })}\n` : describeStatus(status, dir));
      return;
    }
    const m = await readManifest(cfg.dir);
    if (cfg.json) process.stdout.write(`${JSON.stringify({ complete: true, manifest: m })}\n`);
    else process.stdout.write(`${dir}: complete: ${count(m.shards.length, 'shard')}, ${count(m.totals.rows, 'row')}, ${count(m.totals.tokens, 'token')} (\`meap inspect ${dir}\` shows the summary)\n`);
  });
}
