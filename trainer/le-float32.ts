/**
 * Float32 tensors as the little-endian bytes that both tensor files meap writes hold (a checkpoint's
 * tensors.bin, an export's safetensors): a view on little-endian hosts, a byte-swapped copy elsewhere.
 *
 * Covered by test/trainer/checkpoint.test.ts and test/trainer/safetensors.test.ts (bitwise round trips).
 */
import * as os from 'node:os';

export const LITTLE_ENDIAN = os.endianness() === 'LE';

export function leBytes(t: Float32Array): Uint8Array {
  const view = new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
  if (LITTLE_ENDIAN) return view;
  const out = new Uint8Array(view);
  for (let i = 0; i < out.length; i += 4) {
    [out[i], out[i + 1], out[i + 2], out[i + 3]] = [out[i + 3], out[i + 2], out[i + 1], out[i]];
  }
  return out;
}
