/**
 * Per-family GPU time of a step, from the adapter's timestamp queries: each run of consecutive
 * dispatches of one family (matmul forward, attention backward, …) is encoded as a compute pass of
 * its own with timestamps at its start and end, and the step's passes are summed by family. The extra
 * passes cost a little time of their own, so a profiled step is a little slower than a plain one:
 * the figures are for where the time goes, not for the headline tokens/s.
 *
 * Covered by test/trainer/webgpu/profiler.test.ts (the grouping; the timing needs an adapter that
 * offers timestamp-query, which the software one does not).
 */
import { configError } from '../../core/errors.ts';
import type { Dispatch, Gpu } from './runtime.ts';

const QUERY_RESOLVE = 0x0200; // GPUBufferUsage.QUERY_RESOLVE, spelt out: the globals exist only once Dawn is loaded
const COPY_SRC = 0x0004;

/** A dispatch with the family its time counts under. */
export type FamilyDispatch = Dispatch & { family: string };

/** The dispatches split into runs of one family, in order: one timed pass each. */
export function familyRuns(dispatches: readonly FamilyDispatch[]): Array<{ family: string; dispatches: FamilyDispatch[] }> {
  const runs: Array<{ family: string; dispatches: FamilyDispatch[] }> = [];
  for (const d of dispatches) {
    const last = runs.at(-1);
    if (last !== undefined && last.family === d.family) last.dispatches.push(d);
    else runs.push({ family: d.family, dispatches: [d] });
  }
  return runs;
}

export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readResolved: (buffer: GPUBuffer, bytes: number) => Promise<ArrayBuffer>;
  /** The family of each pass encoded since the last read. */
  private passes: string[] = [];

  /** Room for `capacity` passes a step; refuses an adapter without timestamp-query. */
  constructor(
    private readonly gpu: Gpu,
    private readonly capacity: number,
  ) {
    if (!gpu.device.features.has('timestamp-query')) throw configError('this WebGPU adapter offers no timestamp-query, so no profile', 'run without --profile');
    const count = 2 * capacity;
    this.querySet = gpu.device.createQuerySet({ type: 'timestamp', count, label: 'profile' });
    this.resolved = gpu.device.createBuffer({ size: count * 8, usage: QUERY_RESOLVE | COPY_SRC, label: 'profile resolved' });
    this.readResolved = gpu.reader(count * 8, 'profile');
  }

  /** Runs the dispatches now, one timed pass per run of a family. */
  run(dispatches: readonly FamilyDispatch[]): void {
    const encoder = this.gpu.device.createCommandEncoder();
    for (const r of familyRuns(dispatches)) {
      const i = this.passes.length;
      if (i >= this.capacity) throw new RangeError(`the profile has room for ${this.capacity} passes a step`);
      this.passes.push(r.family);
      this.gpu.encode(encoder, r.dispatches, { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 });
    }
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Milliseconds by family over the passes run since the last read. */
  async read(): Promise<Record<string, number>> {
    const n = this.passes.length;
    const out: Record<string, number> = {};
    if (n === 0) return out;
    const encoder = this.gpu.device.createCommandEncoder();
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolved, 0);
    this.gpu.device.queue.submit([encoder.finish()]);
    const ns = new BigUint64Array(await this.readResolved(this.resolved, 2 * n * 8));
    this.passes.forEach((family, i) => {
      // Some drivers' timestamps are not monotonic across passes: a negative span counts as none.
      const span = ns[2 * i + 1] > ns[2 * i] ? Number(ns[2 * i + 1] - ns[2 * i]) : 0;
      out[family] = (out[family] ?? 0) + span / 1e6;
    });
    this.passes = [];
    return out;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
  }
}
