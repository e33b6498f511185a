/**
 * The bpe engine's tables, built once per tokenizer and kept in $MEAP_CACHE/bpe: loadBpeModel parses
 * megabytes of JSON and fills a Map of the vocab and a table of every merge, ~0.1-0.15 s at every start;
 * reading its result back takes a few milliseconds.
 *
 * A file is named by the sha256 of the tokenizer JSON the tables come from and of the sources that
 * build and lay them out (SOURCES), so a changed hash function or layout never reads an old table. Its
 * header carries the sha256 of its body: a file that does not match is built and written again. The
 * cache is a convenience: a cache that cannot be read or written only costs the build.
 *
 * Covered by test/pipeline/tokenize/bpe/table-cache.test.ts.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheRoot, writeCacheFile } from '../../../core/cache.ts';
import { loadBpeModel, type BpeLoad, type BpeModel } from './bpe-model.ts';

/** What loadBpeModel's result depends on besides the JSON: its module and all it imports of ours, and this file. */
export const SOURCES = ['./bpe-model.ts', './pairs.ts', './strings.ts', './shared.ts', '../regex.ts', '../specials.ts', './table-cache.ts'].map(
  (s) => new URL(s, import.meta.url),
);

type Arrays = Record<string, Int32Array | Uint16Array | null>;
type Scalars = Omit<BpeModel, 'vocab' | 'merges' | 'byteFallback' | 'byteIds'>;

const arraysOf = (m: BpeModel): Arrays => ({
  units: m.vocab.units,
  slots: m.vocab.slots,
  start: m.vocab.start,
  length: m.vocab.length,
  value: m.vocab.value,
  mergeSlots: m.merges.slots,
  byteFallback: m.byteFallback,
  byteIds: m.byteIds,
});

const ARRAY_NAMES = 'units,slots,start,length,value,mergeSlots,byteFallback,byteIds';

/** loadBpeModel(plainJson), from the cache when it holds the result. */
export async function cachedBpeModel(plainJson: string): Promise<BpeLoad> {
  const key = createHash('sha256').update(plainJson);
  for (const source of SOURCES) key.update(fs.readFileSync(source));
  const file = path.join(cacheRoot(), 'bpe', `${key.digest('hex').slice(0, 32)}.bin`);
  const cached = readTables(file);
  if (cached !== null) return cached;
  const load = loadBpeModel(plainJson);
  await writeCacheFile(file, encodeTables(load)).catch(() => {});
  return load;
}

/** A header line of JSON (the scalars, and each array's type and length), then the arrays' bytes, 8-aligned. */
export function encodeTables(load: BpeLoad): Buffer {
  const parts: Buffer[] = [];
  let scalars: unknown = load;
  const layout: Record<string, [type: 'i32' | 'u16', length: number] | null> = {};
  if (load.ok) {
    const { vocab: _v, merges: _m, byteFallback: _b, byteIds: _i, ...rest } = load.model;
    scalars = { ok: true, model: rest };
    for (const [name, a] of Object.entries(arraysOf(load.model))) {
      layout[name] = a === null ? null : [a instanceof Uint16Array ? 'u16' : 'i32', a.length];
      if (a === null) continue;
      const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      parts.push(bytes, Buffer.alloc((8 - (bytes.length % 8)) % 8));
    }
  }
  const body = Buffer.concat(parts);
  const header = JSON.stringify({ scalars, layout, sha256: createHash('sha256').update(body).digest('hex') });
  const head = Buffer.from(`${header}\n`);
  return Buffer.concat([head, Buffer.alloc((8 - (head.length % 8)) % 8, ' '), body]);
}

/** The tables in `file`, each on shared memory as loadBpeModel makes them; null when missing or not intact. */
export function readTables(file: string): BpeLoad | null {
  try {
    const buf = fs.readFileSync(file);
    const nl = buf.indexOf(10);
    const { scalars, layout, sha256 } = JSON.parse(buf.subarray(0, nl).toString('utf8')) as {
      scalars: { ok: true; model: Scalars } | { ok: false; why: string };
      layout: Record<string, [string, number] | null>;
      sha256: string;
    };
    const bodyAt = nl + 1 + ((8 - ((nl + 1) % 8)) % 8);
    const body = buf.subarray(bodyAt);
    if (createHash('sha256').update(body).digest('hex') !== sha256) return null;
    if (!scalars.ok) return scalars;
    if (Object.keys(layout).join() !== ARRAY_NAMES) return null;
    const arrays: Arrays = {};
    let at = 0;
    for (const [name, spec] of Object.entries(layout)) {
      if (spec === null) {
        arrays[name] = null;
        continue;
      }
      const [type, length] = spec;
      const bytes = length * (type === 'u16' ? 2 : 4);
      if (at + bytes > body.length) return null;
      const shared = new SharedArrayBuffer(bytes);
      new Uint8Array(shared).set(body.subarray(at, at + bytes));
      arrays[name] = type === 'u16' ? new Uint16Array(shared) : new Int32Array(shared);
      at += bytes + ((8 - (bytes % 8)) % 8);
    }
    const a = arrays as Record<string, Int32Array> & { units: Uint16Array };
    const model: BpeModel = {
      ...scalars.model,
      vocab: { units: a.units, slots: a.slots, start: a.start, length: a.length, value: a.value },
      merges: { slots: a.mergeSlots },
      byteFallback: arrays.byteFallback as Int32Array | null,
      byteIds: arrays.byteIds as Int32Array | null,
    };
    return { ok: true, model };
  } catch {
    return null;
  }
}
