/**
 * Presentation of a run's progress: a bar on a TTY, periodic plain lines otherwise (logs, CI).
 * Everything goes to stderr so stdout stays for results.
 */
import cliProgress from 'cli-progress';

export interface Counters {
  /** Documents or examples, as `start` names them. */
  items: number;
  tokens: number;
  bytesRead: number;
}

export interface Progress {
  start(totalBytes: number, files: number, noun: string): void;
  fileDone(): void;
  update(c: Counters): void;
  stop(): void;
}

export type ProgressMode = 'auto' | 'bar' | 'log' | 'none';

export function createProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Progress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'log') : mode;
  if (resolved === 'none') return { start() {}, fileDone() {}, update() {}, stop() {} };
  return resolved === 'bar' ? barProgress(stream) : logProgress(stream);
}

const rate = (tokens: number, startedAt: number) => Math.round(tokens / Math.max(1e-3, (performance.now() - startedAt) / 1000));

function barProgress(stream: NodeJS.WriteStream): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{bar} {percentage}% | {items} {noun} | {tps} tok/s | files {filesDone}/{files} | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = 0;
  let filesDone = 0;
  return {
    start(totalBytes, files, noun) {
      startedAt = performance.now();
      bar.start(Math.max(1, totalBytes), 0, { items: 0, noun, tps: 0, files, filesDone });
    },
    fileDone() {
      bar.update({ filesDone: ++filesDone });
    },
    update(c) {
      bar.update(c.bytesRead, { items: c.items, tps: rate(c.tokens, startedAt) });
    },
    stop() {
      bar.stop();
    },
  };
}

function logProgress(stream: NodeJS.WriteStream, everyMs = 10_000): Progress {
  let startedAt = 0;
  let lastAt = 0;
  let total = 1;
  let files = 0;
  let filesDone = 0;
  let what = '';
  return {
    start(totalBytes, n, noun) {
      startedAt = lastAt = performance.now();
      total = Math.max(1, totalBytes);
      files = n;
      what = noun;
    },
    fileDone() {
      filesDone++;
    },
    update(c) {
      const now = performance.now();
      if (now - lastAt < everyMs) return;
      lastAt = now;
      const done = c.bytesRead / total;
      const elapsed = (now - startedAt) / 1000;
      const eta = done > 0 ? Math.round((elapsed * (1 - done)) / done) : NaN;
      stream.write(
        `meap: ${(100 * done).toFixed(1)}% of input bytes, files ${filesDone}/${files}, ${c.items} ${what}, ${rate(c.tokens, startedAt)} tok/s, ETA ${Number.isFinite(eta) ? `${eta}s` : '?'}\n`,
      );
    },
    stop() {},
  };
}
