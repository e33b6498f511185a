/**
 * Deterministic per-row randomness for masking. Everything here is specified bit for bit in
 * the README's mask specification so that another implementation (docs/mask_reference.py) reproduces every
 * mask; change nothing here without bumping the domain tag and the spec.
 */
import { createHash } from 'node:crypto';

/** Versioned domain tag: a different masking scheme must never collide with these streams. */
const DOMAIN = Buffer.from('meap-mask-v1\0', 'latin1');
const SHA256_HEX = /^[0-9a-fA-F]{64}$/;
const TWO_32 = 0x1_0000_0000;

function assertU64Safe(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${name} must be a non-negative safe integer, got ${v}`);
  }
}

/**
 * The 4-word xoshiro128** state for one row: first 16 bytes of
 * sha256("meap-mask-v1\0" ‖ u64le(seed) ‖ raw32(fileSha256) ‖ u64le(rowIndex)), as u32 LE words.
 * Hashing (rather than mixing the numbers arithmetically) makes neighbouring rows and seeds
 * statistically unrelated streams.
 */
export function rowSeed(seed: number, fileSha256Hex: string, rowIndex: number): Uint32Array {
  assertU64Safe('seed', seed);
  assertU64Safe('rowIndex', rowIndex);
  if (!SHA256_HEX.test(fileSha256Hex)) {
    throw new RangeError(`fileSha256Hex must be 64 hex digits, got ${JSON.stringify(fileSha256Hex)}`);
  }
  const buf = Buffer.alloc(DOMAIN.length + 8 + 32 + 8);
  let o = DOMAIN.copy(buf, 0);
  buf.writeBigUInt64LE(BigInt(seed), o);
  o += 8;
  o += Buffer.from(fileSha256Hex, 'hex').copy(buf, o);
  buf.writeBigUInt64LE(BigInt(rowIndex), o);
  const digest = createHash('sha256').update(buf).digest();
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = digest.readUInt32LE(4 * i);
  return words;
}

/** xoshiro128** (Blackman & Vigna): 128-bit state, fast, and trivial to port exactly. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(state: Uint32Array) {
    if (state.length !== 4) throw new RangeError('xoshiro128** needs exactly 4 state words');
    this.s0 = state[0] >>> 0;
    this.s1 = state[1] >>> 0;
    this.s2 = state[2] >>> 0;
    this.s3 = state[3] >>> 0;
    // The all-zero state is a fixed point of xoshiro (it would emit zeros forever); a sha256
    // prefix is never expected to be zero, but the fix-up keeps the generator total.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 0x9e3779b9;
  }

  static forRow(seed: number, fileSha256Hex: string, rowIndex: number): Rng {
    return new Rng(rowSeed(seed, fileSha256Hex, rowIndex));
  }

  /** Next output as an unsigned 32-bit integer. */
  nextU32(): number {
    const s1 = this.s1;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /**
   * Uniform integer in [0, n) for 1 <= n <= 2^32, unbiased by rejection. Always draws at least
   * one word (also for n = 1) so that the draw count depends only on the values drawn.
   */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new RangeError(`below(n) needs an integer 1 <= n <= 2^32, got ${n}`);
    }
    const lim = TWO_32 - (TWO_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < lim) return x % n;
    }
  }

  /**
   * Uniform bigint in [0, n) for n >= 1: with b = bitLength(n - 1) and w = ceil(b / 32), draw
   * w words, most significant first, keep the low b bits, and reject values >= n. n = 1 draws
   * nothing. Masking to b bits keeps the expected number of tries below 2.
   */
  belowBig(n: bigint): bigint {
    if (n < 1n) throw new RangeError(`belowBig(n) needs n >= 1, got ${n}`);
    const b = bitLength(n - 1n);
    if (b === 0) return 0n;
    const w = Math.ceil(b / 32);
    const topBits = b - 32 * (w - 1);
    const topMask = topBits === 32 ? 0xffffffff : (1 << topBits) - 1;
    for (;;) {
      let x = BigInt((this.nextU32() & topMask) >>> 0);
      for (let i = 1; i < w; i++) x = (x << 32n) | BigInt(this.nextU32());
      if (x < n) return x;
    }
  }
}

/** Number of bits in the binary representation of v >= 0 (0 for 0). */
export function bitLength(v: bigint): number {
  if (v === 0n) return 0;
  const hex = v.toString(16);
  return 4 * (hex.length - 1) + (32 - Math.clz32(parseInt(hex[0], 16)));
}
