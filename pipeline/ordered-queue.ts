/**
 * Tokenizer batches in flight, consumed strictly in submission order. The queue runs across input
 * files, so the next file is read while the last batches of the previous one are still tokenizing.
 */
export class OrderedQueue {
  private items: { pending: Promise<unknown>; apply: (value: never) => Promise<void>; weight: number }[] = [];
  private weight = 0;

  constructor(private readonly depth: number) {}

  async push<T>(pending: Promise<T>, apply: (value: T) => Promise<void>, weight = 1): Promise<void> {
    pending.catch(() => {}); // awaited in order by shift(); this only keeps an early rejection from counting as unhandled
    this.items.push({ pending, apply: apply as (value: never) => Promise<void>, weight });
    this.weight += weight;
    while (this.weight >= this.depth) await this.shift();
  }

  async drain(): Promise<void> {
    while (this.items.length > 0) await this.shift();
  }

  /** After a failure: let work in flight settle so nothing runs on after the error is reported. */
  async abandon(): Promise<void> {
    await Promise.allSettled(this.items.map((i) => i.pending));
    this.items = [];
  }

  private async shift(): Promise<void> {
    const item = this.items.shift()!;
    this.weight -= item.weight;
    await item.apply((await item.pending) as never);
  }
}
