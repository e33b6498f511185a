/**
 * What a user sees while a command runs and when it ends: one progress implementation (a bar on a
 * TTY, a plain line every 10 s in logs and CI, or nothing) behind the prepare, train and download
 * displays, and the summary of a finished directory. Everything goes to stderr except the summary,
 * so that stdout stays for results.
 */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../datasets/hub/http.ts';
import type { Counters, Progress } from '../pipeline/unit.ts';
import type { Manifest } from '../schemas/manifest.ts';
import { maskTakes, type ProgressMode } from '../schemas/enums.ts';
import type { EvalProgress } from '../trainer/eval.ts';
import type { StepMetrics, TrainProgress } from '../trainer/metrics.ts';

const LOG_EVERY_MS = 10_000;

type Payload = Record<string, unknown>;

/** The shared engine: a bar, or throttled log lines, or nothing. */
interface Meter {
  start(total: number, value: number, payload: Payload): void;
  /** `value` null leaves the bar where it is. `line` is written in log mode when it is due, or when `force`d. */
  update(value: number | null, payload: Payload, line?: () => string, force?: boolean): void;
  stop(): void;
}

function meter(mode: ProgressMode, stream: NodeJS.WriteStream, format: string, options: cliProgress.Options = {}): Meter {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'log') : mode;
  if (resolved === 'none') return { start() {}, update() {}, stop() {} };
  if (resolved === 'log') {
    let lastAt = 0;
    return {
      start() {
        lastAt = performance.now();
      },
      update(_value, _payload, line, force = false) {
        const now = performance.now();
        if (line === undefined || (!force && now - lastAt < LOG_EVERY_MS)) return;
        lastAt = now;
        stream.write(`${line()}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar({ stream, format, hideCursor: true, fps: 5, ...options }, cliProgress.Presets.shades_classic);
  return {
    start: (total, value, payload) => bar.start(total, value, payload),
    update: (value, payload) => (value === null ? bar.update(payload) : bar.update(value, payload)),
    stop: () => bar.stop(),
  };
}

const rate = (tokens: number, startedAt: number) => Math.round(tokens / Math.max(1e-3, (performance.now() - startedAt) / 1000));

/** `meap prepare`: input bytes read, items, tokens per second, files done. */
export function prepareProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Progress {
  const m = meter(mode, stream, '{bar} {percentage}% | {items} {noun} | {tps} tok/s | files {filesDone}/{files} | ETA {eta_formatted}', { etaBuffer: 50 });
  let startedAt = 0;
  let total = 1;
  let files = 0;
  let filesDone = 0;
  let noun = '';
  const line = (c: Counters) => () => {
    const done = c.bytesRead / total;
    const elapsed = (performance.now() - startedAt) / 1000;
    const eta = done > 0 ? Math.round((elapsed * (1 - done)) / done) : NaN;
    return `meap: ${(100 * done).toFixed(1)}% of input bytes, files ${filesDone}/${files}, ${n(c.items)} ${noun}, ${n(rate(c.tokens, startedAt))} tok/s, ETA ${Number.isFinite(eta) ? `${eta}s` : '?'}`;
  };
  return {
    start(totalBytes, fileCount, what) {
      startedAt = performance.now();
      total = Math.max(1, totalBytes);
      files = fileCount;
      noun = what;
      m.start(total, 0, { items: '0', noun, tps: '0', files, filesDone });
    },
    fileDone() {
      m.update(null, { filesDone: ++filesDone });
    },
    update(c) {
      m.update(c.bytesRead, { items: n(c.items), tps: n(rate(c.tokens, startedAt)) }, line(c));
    },
    stop: () => m.stop(),
  };
}

/** `meap train`: step, loss, learning rate, tokens per second; the first step is always logged. */
export function trainProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): TrainProgress {
  const m = meter(mode, stream, '{bar} step {value}/{total} | loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_formatted}');
  return {
    start: (steps, from) => m.start(steps, from, { loss: '-', lr: '-', tps: '0' }),
    update(s: StepMetrics) {
      const line = () => `meap train: step ${s.step}, loss ${s.loss.toFixed(4)}, lr ${s.lr.toExponential(2)}, ${n(s.tokensPerSec)} tok/s`;
      m.update(s.step, { loss: s.loss.toFixed(4), lr: s.lr.toExponential(2), tps: n(s.tokensPerSec) }, line, s.step === 1);
    },
    stop: () => m.stop(),
  };
}

/** `meap eval`: rows evaluated, on a bar or in a log line every 10 s. */
export function evalProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): EvalProgress {
  const m = meter(mode, stream, '{bar} {value}/{total} rows | ETA {eta_formatted}');
  let total = 0;
  return {
    start(rows) {
      total = rows;
      m.start(rows, 0, {});
    },
    update: (done) => m.update(done, {}, () => `meap eval: ${n(done)} of ${count(total, 'row')}`),
    stop: () => m.stop(),
  };
}

/** Hub downloads: a byte bar on a TTY only; the hub's own log lines say the rest. */
export function downloadProgress(stream: NodeJS.WriteStream = process.stderr): DownloadProgress | undefined {
  if (!stream.isTTY) return undefined;
  const m = meter('bar', stream, 'hf {bar} {percentage}% | {value}/{total} bytes | {files}');
  let files = 0;
  return {
    start(totalBytes, n) {
      files = n;
      m.start(totalBytes, 0, { files: `0/${files} files` });
    },
    update: (bytes, filesDone) => m.update(bytes, { files: `${filesDone}/${files} files` }),
    stop: () => m.stop(),
  };
}

/** A count as every message prints it: thousands separated. */
export const n = (x: number) => x.toLocaleString('en-US');

/** A size in SI units, as `ls -h --si` and the hub print them: 999 B, 1.2 kB, 34.5 MB. */
export function bytes(x: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let u = 0;
  while (x >= 999.95 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return u === 0 ? `${x} B` : `${x.toFixed(1)} ${units[u]}`;
}

/** "1 file", "2 files", "1,024 rows": the noun's plural is the noun plus "s" unless given. */
export const count = (x: number, noun: string, plural = `${noun}s`) => `${n(x)} ${x === 1 ? noun : plural}`;

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
      `  masking    ${!maskTakes(k.strategy, 'maskRatio') ? k.strategy : `${k.strategy}${k.spanLength !== null ? ` (spans of ${k.spanLength})` : ''}, ratio ${k.ratio}, seed ${m.seed}`}`,
      `  inputs     ${count(m.inputs.length, 'file')}, ${count(m.totals.documents, 'document')}`,
    );
  } else {
    const k = m.masking;
    const t = m.totals;
    lines.push(
      `  masking    sft-duplicate, ratio ${k.ratio} of answers over ${k.minAnswerTokens} tokens, layout ${k.layout}${m.sft.pack ? ', packed' : ''}, template ${m.sft.template}, seed ${m.seed}`,
      // Only the concat layout can fall back (to two rows, when a pair does not fit one).
      `  inputs     ${count(m.inputs.length, 'file')}, ${count(t.examples, 'example')}: ${n(t.duplicated)} duplicated, ${n(t.ntpOnly)} next-token only, ${n(t.truncated)} truncated${k.layout === 'concat' ? `, ${count(t.layoutFallbacks, 'concat fallback')}` : ''}`,
    );
  }
  lines.push(
    `  output     ${count(m.shards.length, 'shard')}, ${count(m.totals.rows, 'row')}, ${count(m.totals.tokens, 'token')}, ${n(m.totals.maskedTokens)} masked (${maskedPct}%)`,
    `  skipped    ${skipped.length === 0 ? 'none' : skipped.map(([k, v]) => `${k} ${n(v)}`).join(', ')}`,
    ...(m.warnings ?? []).map((w) => `  warning    ${w}`),
    '',
  );
  return lines.join('\n');
}
