import { describe, expect, it } from 'vitest';
import { OrderedQueue } from '../../pipeline/ordered-queue.ts';

function deferred<T = number>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Whether `p` has settled once every pending callback has run; nothing here waits on a clock. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

const recorder = () => {
  const applied: number[] = [];
  return { applied, apply: async (v: number) => void applied.push(v) };
};

describe('OrderedQueue', () => {
  it('applies results strictly in push order, whatever order they resolve in', async () => {
    const q = new OrderedQueue(100);
    const log: string[] = [];
    const ds = [0, 1, 2, 3, 4].map(() => deferred());
    for (const d of ds) {
      await q.push(d.promise, async (v) => {
        log.push(`start ${v}`);
        await new Promise((r) => setImmediate(r));
        log.push(`end ${v}`);
      });
    }
    const drained = q.drain();
    for (let i = 4; i >= 1; i--) ds[i].resolve(i);
    expect(await settled(drained)).toBe(false);
    expect(log).toEqual([]);
    ds[0].resolve(0);
    await drained;
    // One apply finishes before the next starts: sinks are not re-entrant.
    expect(log).toEqual([0, 1, 2, 3, 4].flatMap((i) => [`start ${i}`, `end ${i}`]));
  });

  it('makes push wait once `depth` weight is pending, until the oldest entry is applied', async () => {
    const q = new OrderedQueue(3);
    const { applied, apply } = recorder();
    const ds = [0, 1, 2].map(() => deferred());
    await q.push(ds[0].promise, apply);
    await q.push(ds[1].promise, apply);
    const third = q.push(ds[2].promise, apply);
    expect(await settled(third)).toBe(false);
    ds[1].resolve(1);
    expect(await settled(third)).toBe(false);
    ds[0].resolve(0);
    await third;
    // Back under the depth after one entry: the resolved second one waits for drain.
    expect(applied).toEqual([0]);
    ds[2].resolve(2);
    await q.drain();
    expect(applied).toEqual([0, 1, 2]);
  });

  it('counts weight, not entries: a heavy entry fills the queue at once', async () => {
    const q = new OrderedQueue(3);
    const { applied, apply } = recorder();
    const d = deferred();
    const heavy = q.push(d.promise, apply, 3);
    expect(await settled(heavy)).toBe(false);
    d.resolve(7);
    await heavy;
    expect(applied).toEqual([7]);
  });

  it('never blocks on weight-0 entries, yet applies them in their place', async () => {
    const q = new OrderedQueue(1);
    const { applied, apply } = recorder();
    const first = deferred();
    await q.push(first.promise, apply, 0);
    await q.push(Promise.resolve(1), apply, 0);
    expect(applied).toEqual([]);
    // A weighted entry reaches the depth, and must wait for the weight-0 entries ahead of it.
    const weighted = q.push(Promise.resolve(2), apply);
    expect(await settled(weighted)).toBe(false);
    first.resolve(0);
    await weighted;
    expect(applied).toEqual([0, 1, 2]);
  });

  it('abandon() waits for every promise in flight, then drops them unapplied', async () => {
    const q = new OrderedQueue(10);
    const { applied, apply } = recorder();
    const ds = [0, 1].map(() => deferred());
    for (const d of ds) await q.push(d.promise, apply);
    const abandoned = q.abandon();
    ds[0].resolve(0);
    expect(await settled(abandoned)).toBe(false);
    ds[1].reject(new Error('tokenizer died'));
    await abandoned;
    await q.drain();
    expect(applied).toEqual([]);
  });

  it('surfaces a rejected promise at its turn, not before, and applies nothing after it', async () => {
    const q = new OrderedQueue(10);
    const { applied, apply } = recorder();
    const first = deferred();
    await q.push(first.promise, apply);
    // Rejected before its turn: no unhandled rejection, and the queue does not fail early.
    await q.push(Promise.reject(new Error('batch 1 failed')), apply);
    await q.push(Promise.resolve(2), apply);
    const drained = q.drain();
    expect(await settled(drained)).toBe(false);
    first.resolve(0);
    await expect(drained).rejects.toThrow('batch 1 failed');
    expect(applied).toEqual([0]);
    await q.abandon();
  });

  it('rejects the push that reaches a failed entry', async () => {
    const q = new OrderedQueue(2);
    const { applied, apply } = recorder();
    await q.push(Promise.reject(new Error('batch 0 failed')), apply);
    await expect(q.push(Promise.resolve(1), apply)).rejects.toThrow('batch 0 failed');
    await q.abandon();
    expect(applied).toEqual([]);
  });
});
