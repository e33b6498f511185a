/**
 * Typed arrays on SharedArrayBuffers: tables built once and read by every worker thread, which
 * receives them through workerData without a copy. Covered through pairs.test.ts and strings.test.ts.
 */
export const sharedInt32 = (n: number) => new Int32Array(new SharedArrayBuffer(4 * n));
export const sharedUint16 = (n: number) => new Uint16Array(new SharedArrayBuffer(2 * n));
