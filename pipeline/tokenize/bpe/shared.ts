/**
 * What the bpe engine's tables share. Typed arrays on SharedArrayBuffers: tables built once and read
 * by every worker thread, which receives them through workerData without a copy. And the one string
 * hash of the vocab table and the piece cache. Covered through pairs.test.ts, strings.test.ts and
 * bpe-encoder.test.ts.
 */
export const sharedInt32 = (n: number) => new Int32Array(new SharedArrayBuffer(4 * n));
export const sharedUint16 = (n: number) => new Uint16Array(new SharedArrayBuffer(2 * n));

/** FNV-1a over text[start, end)'s UTF-16 code units, read in place: no substring. */
export function hashOf(text: string, start = 0, end = text.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h | 0;
}

/** hashOf over units[0, n): the same hash as of the string those code units spell. */
export function hashUnits(units: Uint16Array, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ units[i], 0x01000193);
  return h | 0;
}
