/**
 * Documents → rows of exactly seqLen tokens (the last row of a file may be shorter).
 * Pure and streaming: the packer holds at most one row, so memory does not grow with the input.
 */
export interface PackedRow {
  tokens: Int32Array;
  /** Restart at 0 at every document start and at every row start. */
  positions: Int32Array;
  /** 1 where masking may touch the position: not a special token, not the row's last position. */
  eligible: Uint8Array;
}

export interface DocumentFrame {
  bosId: number | null;
  eosId: number | null;
}

export class Packer {
  private tokens: Int32Array;
  private positions: Int32Array;
  private fill = 0;
  private position = 0;
  /** special[id] = 1 for special ids: a table, because a Set lookup per token shows in profiles. */
  private readonly special: Uint8Array;

  constructor(
    private readonly seqLen: number,
    specialIds: ReadonlySet<number>,
    private readonly frame: DocumentFrame,
  ) {
    this.tokens = new Int32Array(seqLen);
    this.positions = new Int32Array(seqLen);
    this.special = new Uint8Array(Math.max(0, ...specialIds) + 1);
    for (const id of specialIds) this.special[id] = 1;
  }

  /** Adds `[BOS] ids [EOS]` (per the frame) and returns the rows it completed. */
  push(ids: ArrayLike<number>): PackedRow[] {
    const out: PackedRow[] = [];
    this.position = 0;
    if (this.frame.bosId !== null) this.put(this.frame.bosId, out);
    for (let i = 0; i < ids.length; i++) this.put(ids[i], out);
    if (this.frame.eosId !== null) this.put(this.frame.eosId, out);
    return out;
  }

  /** The final, possibly short row; null when nothing is pending. */
  finish(): PackedRow | null {
    if (this.fill === 0) return null;
    return this.emit();
  }

  private put(id: number, out: PackedRow[]): void {
    this.tokens[this.fill] = id;
    this.positions[this.fill] = this.position++;
    if (++this.fill === this.seqLen) {
      out.push(this.emit());
      this.position = 0;
    }
  }

  private emit(): PackedRow {
    const n = this.fill;
    const tokens = this.tokens.slice(0, n);
    const positions = this.positions.slice(0, n);
    const eligible = new Uint8Array(n);
    const special = this.special;
    for (let i = 0; i < n - 1; i++) eligible[i] = special[tokens[i]] === 1 ? 0 : 1;
    this.fill = 0;
    return { tokens, positions, eligible };
  }
}
