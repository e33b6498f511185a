/** Token ids between engines, threads and callers, with no tokenizer library loaded (a unit worker loads none). */

/** Rust strings cannot hold lone surrogates: the native binding turns them into U+FFFD, so the other engines do too. */
export function wellFormed(text: string): string {
  return text.isWellFormed() ? text : text.toWellFormed();
}

/** Several encodings in one buffer, so a worker can hand them back without copying: [n, len_1..len_n, ids...]. */
export function packIds(list: Int32Array[]): Int32Array {
  let total = 1 + list.length;
  for (const a of list) total += a.length;
  const out = new Int32Array(total);
  out[0] = list.length;
  let at = 1 + list.length;
  list.forEach((a, i) => {
    out[1 + i] = a.length;
    out.set(a, at);
    at += a.length;
  });
  return out;
}

export function unpackIds(packed: Int32Array): Int32Array[] {
  const n = packed[0];
  const out: Int32Array[] = [];
  let at = 1 + n;
  for (let i = 0; i < n; i++) {
    const len = packed[1 + i];
    out.push(packed.subarray(at, at + len));
    at += len;
  }
  return out;
}
