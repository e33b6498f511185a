/**
 * Streaming zstd decompression that stays bounded whatever the input claims.
 *
 * fzstd decodes every complete block in the bytes it is given, in one synchronous call, and
 * allocates a window as large as the frame header asks for. Both are unsafe on hostile input: a 64 KiB
 * slice of 4-byte RLE blocks expands to 2 GiB before the caller can apply backpressure, and a header
 * can ask for a 2 GiB window. So the frame structure (RFC 8878 §3.1) is walked here first: headers
 * are checked before fzstd sees them, and the input is cut so that each push completes at most one
 * block, whose output (≤ 128 KiB) is yielded before the next push.
 */
import { Decompress } from 'fzstd';
import { InputError } from '../core/errors.ts';
import { corruptStream, truncatedStream } from './compression.ts';

const SLICE = 64 * 1024;

/** `zstd --long=27` is the largest window zstd uses without being told `--memory`; beyond it memory is the input's choice. */
export const MAX_WINDOW_BYTES = 128 * 1024 * 1024;

/** Block_Maximum_Size (RFC 8878 §3.1.1.2.4): no block, compressed or regenerated, is larger. */
const MAX_BLOCK = 128 * 1024;

// fzstd's error codes (`err(n)` in its source): 5 is "unexpected EOF"; everything else is bad data.
const EOF_CODE = 5;

export async function* decompressZstd(source: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = [];
  let ended = false;
  const d = new Decompress((chunk, final) => {
    if (chunk.length > 0) out.push(chunk);
    if (final) ended = true;
  });
  const push = (bytes: Uint8Array, final: boolean) => {
    try {
      d.push(bytes, final);
    } catch (e) {
      throw classify(e, file);
    }
  };
  const frames = new FrameWalker(file);

  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const end = frames.advance(chunk, at, Math.min(chunk.length, at + SLICE));
      push(chunk.subarray(at, end), false);
      at = end;
      // The generator is suspended at each yield until the consumer asks again, so at most one
      // push's output is ever held here.
      while (out.length > 0) yield out.shift()!;
    }
  }
  // fzstd says nothing about a stream cut mid-frame until it is told the input is over; only then
  // does it check that the last frame (and its checksum bytes) were complete.
  push(new Uint8Array(0), true);
  while (out.length > 0) yield out.shift()!;
  if (total === 0 || !ended || !frames.atFrameBoundary()) throw truncated(file);
}

type State = 'magic' | 'header' | 'blockHeader' | 'blockBody' | 'checksum' | 'skippable';

/**
 * Follows frame and block boundaries over a byte stream of any chunking. Only header bytes are
 * buffered (at most 14); block bodies are counted, not kept.
 */
export class FrameWalker {
  private state: State = 'magic';
  /** Bytes of the header being collected, and how many it needs. */
  private readonly head = new Uint8Array(18);
  private headLen = 0;
  private need = 4;
  /** Body bytes (or skippable-frame bytes) still to pass in the current block. */
  private remaining = 0;
  private lastBlock = false;
  private checksum = false;
  private blockLimit = MAX_BLOCK;

  constructor(private readonly file: string) {}

  atFrameBoundary(): boolean {
    return this.state === 'magic' && this.headLen === 0;
  }

  /**
   * Walks `chunk[from, limit)` and returns where the next push should end: just after the first
   * block that completes in that range, or `limit` if none does.
   */
  advance(chunk: Uint8Array, from: number, limit: number): number {
    let i = from;
    while (i < limit) {
      if (this.state === 'blockBody' || this.state === 'skippable') {
        const take = Math.min(this.remaining, limit - i);
        i += take;
        this.remaining -= take;
        if (this.remaining > 0) return i;
        if (this.state === 'skippable') this.expectMagic();
        else {
          this.endBlock();
          return i;
        }
        continue;
      }
      this.head[this.headLen++] = chunk[i++];
      if (this.headLen < this.need) continue;
      if (this.onHeader()) return i; // an empty block ends with its header
    }
    return i;
  }

  /** A header field is complete; returns true when that ended a block. */
  private onHeader(): boolean {
    const h = this.head;
    switch (this.state) {
      case 'magic': {
        const magic = (h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0;
        if (magic === 0xfd2fb528) {
          if (this.need === 4) {
            this.need = 5; // the Frame_Header_Descriptor tells how long the rest of the header is
            return false;
          }
          const fhd = h[4];
          const single = (fhd >> 5) & 1;
          const fcsBytes = [single, 2, 4, 8][fhd >> 6];
          const dictBytes = [0, 1, 2, 4][fhd & 3];
          this.checksum = ((fhd >> 2) & 1) === 1;
          this.state = 'header';
          this.need = 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
          return false;
        }
        if ((magic & 0xfffffff0) === 0x184d2a50) {
          if (this.need === 4) {
            this.need = 8; // Frame_Size follows the magic
            return false;
          }
          this.remaining = (h[4] | (h[5] << 8) | (h[6] << 16) | (h[7] << 24)) >>> 0;
          this.state = 'skippable';
          this.headLen = 0;
          if (this.remaining === 0) this.expectMagic();
          return false;
        }
        throw corrupt(this.file, 'unknown frame magic number');
      }
      case 'header': {
        const window = windowSize(h, this.headLen);
        if (window > MAX_WINDOW_BYTES) {
          throw new InputError(
            'windowTooLarge',
            `zstd frame needs a ${mib(window)} window, more than the ${mib(MAX_WINDOW_BYTES)} limit`,
            { file: this.file },
            'recompress with a smaller window (zstd --long=27 or less)',
          );
        }
        this.blockLimit = Math.min(MAX_BLOCK, Math.max(window, 1));
        this.startBlockHeader();
        return false;
      }
      case 'blockHeader': {
        const b = h[0] | (h[1] << 8) | (h[2] << 16);
        this.lastBlock = (b & 1) === 1;
        const type = (b >> 1) & 3;
        const size = b >>> 3;
        if (type === 3) throw corrupt(this.file, 'reserved block type');
        // A compressed block's size is what it takes on disk; a raw or RLE block's is what it expands to.
        const limit = type === 2 ? MAX_BLOCK : this.blockLimit;
        if (size > limit) throw corrupt(this.file, `block of ${size} bytes is larger than the ${limit}-byte maximum`);
        this.remaining = type === 1 ? 1 : size;
        this.headLen = 0;
        this.state = 'blockBody';
        if (this.remaining === 0) {
          this.endBlock();
          return true;
        }
        return false;
      }
      case 'checksum':
        this.expectMagic();
        return false;
      default:
        return false;
    }
  }

  private endBlock(): void {
    if (!this.lastBlock) this.startBlockHeader();
    else if (this.checksum) {
      this.state = 'checksum';
      this.headLen = 0;
      this.need = 4;
    } else this.expectMagic();
  }

  private startBlockHeader(): void {
    this.state = 'blockHeader';
    this.headLen = 0;
    this.need = 3;
  }

  private expectMagic(): void {
    this.state = 'magic';
    this.headLen = 0;
    this.need = 4;
  }
}

/** Window_Size from a complete frame header (RFC 8878 §3.1.1.1.2); a single-segment frame's window is its content size. */
function windowSize(h: Uint8Array, len: number): number {
  const fhd = h[4];
  const single = (fhd >> 5) & 1;
  if (!single) {
    const wd = h[5];
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  const fcsBytes = [1, 2, 4, 8][fhd >> 6];
  let size = 0;
  for (let k = len - 1; k >= len - fcsBytes; k--) size = size * 256 + h[k];
  return fhd >> 6 === 1 ? size + 256 : size;
}

const mib = (n: number) => (n >= 1024 * 1024 ? `${+(n / (1024 * 1024)).toFixed(1)} MiB` : `${n} bytes`);

const truncated = (file: string) => truncatedStream(file, 'zstd stream ends before its last frame is complete');

const corrupt = (file: string, why: string) => corruptStream('zstd', file, why);

function classify(e: unknown, file: string): InputError {
  if (e instanceof InputError) return e;
  if ((e as { code?: unknown })?.code === EOF_CODE) return truncated(file);
  return corrupt(file, e instanceof Error ? e.message : String(e));
}
