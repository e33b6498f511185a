/** What a user sees during `meap train`: a bar on a TTY (step, loss, lr, tokens/s), log lines otherwise. */
import cliProgress from 'cli-progress';
import type { StepMetrics } from './train.ts';

export interface TrainProgress {
  start(steps: number, from: number): void;
  update(m: StepMetrics): void;
  stop(): void;
}

export function trainProgress(mode: 'auto' | 'bar' | 'log' | 'none', stream: NodeJS.WriteStream = process.stderr): TrainProgress {
  const resolved = mode === 'auto' ? (stream.isTTY ? 'bar' : 'log') : mode;
  if (resolved === 'none') return { start() {}, update() {}, stop() {} };
  if (resolved === 'log') {
    let last = 0;
    return {
      start() {},
      update(m) {
        const now = performance.now();
        if (now - last < 10_000 && m.step !== 1) return;
        last = now;
        stream.write(`meap train: step ${m.step}, loss ${m.loss.toFixed(4)}, lr ${m.lr.toExponential(2)}, ${m.tokensPerSec} tok/s\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { stream, format: '{bar} step {value}/{total} | loss {loss} | lr {lr} | {tps} tok/s | ETA {eta_formatted}', hideCursor: true, fps: 5 },
    cliProgress.Presets.shades_classic,
  );
  return {
    start(steps, from) {
      bar.start(steps, from, { loss: '-', lr: '-', tps: 0 });
    },
    update(m) {
      bar.update(m.step, { loss: m.loss.toFixed(4), lr: m.lr.toExponential(2), tps: m.tokensPerSec });
    },
    stop() {
      bar.stop();
    },
  };
}
