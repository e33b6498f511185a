/**
 * meap's own reader of version 2 shards (datasets/shards/stream-reader.ts, through decodeShard). It
 * agrees with apache-arrow, the independent check, on every shard that fixture runs write (pretrain
 * in one batch and in two, SFT). And on thousands of damaged copies of such shards (a bit flipped in
 * every region, cuts, extensions, messages swapped, copied or dropped, huge declared numbers) it
 * returns exactly the rows the damaged bytes encode, which encodeShard turns back into those bytes,
 * or throws one IntegrityError naming the file and a byte inside it: never another error, a hang, or
 * arrays larger than the file. The work is bounded by construction (every declared number is held to
 * the bytes that remain before it is used), so no case is timed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RecordBatchStreamReader, type Data, type Int32, type List } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../core/errors.ts';
import { Rng } from '../../../core/rng.ts';
import { decodeShard, encodeShard, type DecodedShard } from '../../../datasets/shards/codec.ts';
import { shardRow } from '../../../datasets/shards/read.ts';
import { BATCH_META_LENGTH, BATCH_TOKENS, batchBody, END_OF_STREAM, recordBatches, STREAM_HEADER, type ShardRow } from '../../../datasets/shards/stream.ts';
import { BODY_LENGTH_AT, BUFFERS_AT, NODES_AT, ROWS_AT } from '../../../datasets/shards/stream-layout.ts';
import { SHARD_COLUMNS } from '../../../schemas/shard-columns.ts';
import { fixtures, gpt2, llama2, meap, readShards, slimpajama, tempDir } from '../../helpers/cli.ts';

/** Every shard of three fixture runs, by name. */
let shards: Map<string, Buffer>;

beforeAll(() => {
  const root = tempDir('meap-stream-reader-');
  const runs: Record<string, string[]> = {
    // One shard of 436,950 tokens: a full batch, then the rest.
    'pretrain-gpt2': [slimpajama('chunk_0.jsonl'), '-t', gpt2, '--seq-len', '2048'],
    'pretrain-span': [slimpajama('chunk_1.jsonl.zst'), '-t', llama2, '--seq-len', '256', '--shard-rows', '64', '--mask', 'span'],
    sft: [path.join(fixtures, 'alpaca/alpaca_head128.json'), '--mode', 'sft', '-t', llama2, '--seq-len', '1024'],
  };
  shards = new Map();
  for (const [name, args] of Object.entries(runs)) {
    const out = path.join(root, name);
    const r = meap(['prepare', ...args, '-o', out, '--progress', 'none']);
    expect(r.code, r.stderr).toBe(0);
    for (const s of readShards(out).manifest.shards) shards.set(`${name}/${s.file}`, fs.readFileSync(path.join(out, s.file)));
  }
});

/** A shard's columns as apache-arrow's stream reader gives them, flattened as DecodedShard holds them. */
function arrowColumns(bytes: Uint8Array): { batches: number; shard: DecodedShard } {
  const batches = [...RecordBatchStreamReader.from(bytes)];
  const rows = batches.reduce((n, b) => n + b.numRows, 0);
  const columns = {} as DecodedShard['columns'];
  for (const col of SHARD_COLUMNS) {
    const offsets = new Int32Array(rows + 1);
    const values: number[] = [];
    let r = 0;
    for (const b of batches) {
      for (const d of b.getChild(col)!.data as Data<List<Int32>>[]) {
        const child = d.children[0];
        for (let i = 0; i < d.length; i++) {
          for (let v = d.valueOffsets[d.offset + i]; v < d.valueOffsets[d.offset + i + 1]; v++) values.push(child.values[child.offset + v]);
          offsets[++r] = values.length;
        }
      }
    }
    columns[col] = { offsets, values: Int32Array.from(values) };
  }
  return { batches: batches.length, shard: { rows, columns } };
}

/** Compared as bytes: vitest's deep equality walks typed arrays one index at a time. */
const columnBytes = (shard: DecodedShard) => SHARD_COLUMNS.map((c) => [c, Buffer.from(shard.columns[c].offsets.buffer).toString('hex'), Buffer.from(shard.columns[c].values.buffer).toString('base64')]);

const rowsOf = (shard: DecodedShard): ShardRow[] =>
  Array.from({ length: shard.rows }, (_, r) => {
    const { inputIds, labels, positionIds } = shardRow(shard, r);
    return { input_ids: inputIds, labels, position_ids: positionIds };
  });

describe("meap's shard reader and apache-arrow's", () => {
  it('read every shard of pretrain and SFT fixture runs to the same rows, whose encoding is the shard', () => {
    const batchCounts = new Set<number>();
    expect(shards.size).toBeGreaterThan(5);
    for (const [name, bytes] of shards) {
      const ours = decodeShard(bytes, name);
      const { batches, shard } = arrowColumns(bytes);
      batchCounts.add(batches);
      expect(ours.rows, name).toBeGreaterThan(0);
      expect(ours.rows, name).toBe(shard.rows);
      expect(columnBytes(ours), name).toEqual(columnBytes(shard));
      expect(Buffer.from(encodeShard(rowsOf(ours))).equals(bytes), name).toBe(true);
    }
    expect([...batchCounts].sort()).toEqual([1, 2]);
  });
});

interface Base {
  name: string;
  bytes: Buffer;
  /** The shard's parts by byte range: the schema, each batch's metadata, columns' offsets, values and padding, the end marker. */
  regions: { name: string; from: number; to: number }[];
  /** Each message's byte range: the schema, the record batches, the end-of-stream marker. */
  messages: [number, number][];
  /** The declared numbers: 64-bit ones in the batches' metadata, and every message's 32-bit metadata length. */
  numbers: { at: number; bytes: 4 | 8 }[];
}

/** Where everything is in the encoding of `rows`, from the writer's own layout. */
function baseOf(name: string, rows: readonly ShardRow[]): Base {
  const bytes = Buffer.from(encodeShard(rows));
  const regions: Base['regions'] = [{ name: 'schema message', from: 0, to: STREAM_HEADER.length }];
  const messages: Base['messages'] = [[0, STREAM_HEADER.length]];
  const numbers: Base['numbers'] = [{ at: 4, bytes: 4 }];
  let at = STREAM_HEADER.length;
  for (const batch of recordBatches(rows)) {
    const values = SHARD_COLUMNS.map((c) => batch.reduce((n, r) => n + r[c].length, 0));
    const body = batchBody(batch.length, values);
    const bodyAt = at + BATCH_META_LENGTH;
    regions.push({ name: 'batch metadata', from: at, to: bodyAt });
    numbers.push({ at: at + 4, bytes: 4 }, { at: at + BODY_LENGTH_AT, bytes: 8 }, { at: at + ROWS_AT, bytes: 8 });
    for (let k = 0; k < 12; k++) numbers.push({ at: at + NODES_AT + 8 * k, bytes: 8 });
    for (let k = 0; k < 24; k++) numbers.push({ at: at + BUFFERS_AT + 8 * k, bytes: 8 });
    body.columns.forEach((place, c) => {
      const col = SHARD_COLUMNS[c];
      const offsetsAt = bodyAt + place.offsetsAt;
      const valuesAt = bodyAt + place.valuesAt;
      regions.push(
        { name: `${col} offsets`, from: offsetsAt, to: offsetsAt + 4 * (batch.length + 1) },
        { name: `${col} offsets padding`, from: offsetsAt + 4 * (batch.length + 1), to: offsetsAt + place.offsetBytes },
        { name: `${col} values`, from: valuesAt, to: valuesAt + 4 * values[c] },
        { name: `${col} values padding`, from: valuesAt + 4 * values[c], to: valuesAt + place.valueBytes },
      );
    });
    messages.push([at, bodyAt + body.length]);
    at = bodyAt + body.length;
  }
  regions.push({ name: 'end-of-stream marker', from: at, to: at + END_OF_STREAM.length });
  messages.push([at, at + END_OF_STREAM.length]);
  expect(at + END_OF_STREAM.length).toBe(bytes.length);
  return { name, bytes, regions: regions.filter((r) => r.to > r.from), messages, numbers };
}

interface Case {
  what: string;
  bytes: Buffer;
  /** Damage that no shard survives: the IntegrityError must come, naming a byte in [from, to). */
  fails?: { from: number; to: number };
}

const HUGE = [2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

/** `count` damaged copies of `base`: every region, boundary and number systematically, then at random. */
function* damaged(base: Base, rng: Rng, count: number): Generator<Case> {
  const { bytes, regions, messages } = base;
  const pick = <T,>(xs: readonly T[]) => xs[rng.below(xs.length)];
  const inMessage = (p: number) => messages.find(([from, to]) => p >= from && p < to)!;
  const flip = (p: number, bit: number, region: string): Case => {
    const b = Buffer.from(bytes);
    b[p] ^= 1 << bit;
    const [from, to] = inMessage(p);
    // Values and offsets can be damaged into other rows; every other byte is checked.
    const checked = !/ (values|offsets)$/.test(region);
    return { what: `bit ${bit} of byte ${p} (${region}) flipped`, bytes: b, fails: checked ? { from, to } : undefined };
  };
  const cut = (n: number): Case => ({ what: `cut to ${n} bytes`, bytes: bytes.subarray(0, n), fails: { from: 0, to: n + 1 } });
  const setNumber = (at: number, size: 4 | 8, n: bigint): Case => {
    const b = Buffer.from(bytes);
    if (size === 8) b.writeBigUInt64LE(n, at);
    else b.writeUInt32LE(Number(n % 2n ** 32n), at);
    return { what: `the ${size * 8}-bit number at byte ${at} set to ${n}`, bytes: b, fails: b.equals(bytes) ? undefined : { from: at, to: at + size } };
  };
  const splice = (what: string, parts: Uint8Array[]): Case => ({ what, bytes: Buffer.concat(parts) });
  const message = (i: number) => bytes.subarray(...messages[i]);

  const offsetRegions = regions.filter((x) => x.name.endsWith(' offsets'));
  let made = 0;
  const cases = function* (): Generator<Case> {
    for (const r of regions) for (let k = 0; k < 3; k++) yield flip(r.from + rng.below(r.to - r.from), rng.below(8), r.name);
    for (const [from, to] of messages) for (const n of [from, from + 1, from + 8, to - 1]) if (n < bytes.length) yield cut(n);
    for (const { at, bytes: size } of base.numbers) for (const n of size === 8 ? [2n ** 31n, 2n ** 53n + 1n, 2n ** 64n - 1n] : [2n ** 31n, 2n ** 32n - 1n]) yield setNumber(at, size, n);
    for (;;) {
      switch (rng.below(offsetRegions.length > 0 ? 8 : 7)) {
        case 0: {
          const r = pick(regions);
          yield flip(r.from + rng.below(r.to - r.from), rng.below(8), r.name);
          break;
        }
        case 1: {
          const b = Buffer.from(bytes);
          const k = 2 + rng.below(7);
          for (let i = 0; i < k; i++) b[rng.below(b.length)] ^= 1 << rng.below(8);
          yield { what: `${k} bits flipped`, bytes: b };
          break;
        }
        case 2:
          yield cut(rng.below(bytes.length));
          break;
        case 3: {
          const tails = [END_OF_STREAM, Buffer.alloc(1 + rng.below(64)), Uint8Array.from({ length: 1 + rng.below(64) }, () => rng.below(256)), message(rng.below(messages.length))];
          const tail = pick(tails);
          yield { what: `${tail.length} bytes appended`, bytes: Buffer.concat([bytes, tail]), fails: { from: bytes.length, to: bytes.length + 1 } };
          break;
        }
        case 4: {
          const i = rng.below(messages.length);
          const j = rng.below(messages.length);
          const order = messages.map((_, k) => (k === i ? j : k === j ? i : k));
          yield splice(`messages ${i} and ${j} swapped`, order.map(message));
          break;
        }
        case 5: {
          const i = rng.below(messages.length);
          const copy = rng.below(2) === 0;
          yield splice(`message ${i} ${copy ? 'repeated' : 'dropped'}`, messages.flatMap((_, k) => (k !== i ? [message(k)] : copy ? [message(k), message(k)] : [])));
          break;
        }
        case 6: {
          const { at, bytes: size } = pick(base.numbers);
          yield setNumber(at, size, size === 8 ? pick([...HUGE, BigInt(bytes.length), BigInt(4 * bytes.length), rng.belowBig(2n ** 64n)]) : BigInt(rng.nextU32()));
          break;
        }
        default: {
          // An offset made negative, huge, or anything.
          const r = pick(offsetRegions);
          const at = r.from + 4 * rng.below((r.to - r.from) / 4);
          const b = Buffer.from(bytes);
          b.writeInt32LE(pick([-1, -(2 ** 31), 2 ** 31 - 1, BATCH_TOKENS, rng.nextU32() | 0]), at);
          yield { what: `the offset at byte ${at} set to ${b.readInt32LE(at)}`, bytes: b };
        }
      }
    }
  };
  for (const c of cases()) {
    if (made++ === count) return;
    yield c;
  }
}

/** Whatever the bytes: the rows they encode exactly, or one IntegrityError naming a byte inside them. The problem, if not. */
function outcome(c: Case): { read: boolean; problem: string | null } {
  let rows: DecodedShard;
  try {
    rows = decodeShard(c.bytes, 'fuzz.arrow');
  } catch (e) {
    if (!(e instanceof IntegrityError)) return { read: false, problem: `${c.what}: threw ${(e as Error)?.stack ?? e}` };
    const { file, byte } = e.where;
    const where = c.fails ?? { from: 0, to: c.bytes.length + 1 };
    if (file !== 'fuzz.arrow' || byte === undefined || byte < where.from || byte >= where.to || e.message.includes('\n')) {
      return { read: false, problem: `${c.what}: ${e.message} names byte ${byte}, not one in [${where.from}, ${where.to})` };
    }
    return { read: false, problem: null };
  }
  if (c.fails) return { read: true, problem: `${c.what}: read as ${rows.rows} rows` };
  const size = SHARD_COLUMNS.reduce((n, col) => n + rows.columns[col].offsets.byteLength + rows.columns[col].values.byteLength, 0);
  if (size > c.bytes.length) return { read: true, problem: `${c.what}: ${size} bytes of arrays from a ${c.bytes.length}-byte file` };
  if (!Buffer.from(encodeShard(rowsOf(rows))).equals(c.bytes)) return { read: true, problem: `${c.what}: read as rows that are not what the bytes encode` };
  return { read: true, problem: null };
}

describe('damaged shards', () => {
  it('each end in exactly the rows their bytes encode or one IntegrityError naming a byte inside them', () => {
    const synthetic = (n: number, k: number) => ({ input_ids: Int32Array.from({ length: n }, (_, i) => i * k), labels: Int32Array.of(k), position_ids: new Int32Array(0) });
    const bases: [Base, number][] = [
      [baseOf('pretrain, small', rowsOf(decodeShard(shards.get([...shards.keys()].find((k) => k.startsWith('pretrain-span/'))!)!, 'span'))), 1800],
      [baseOf('sft', rowsOf(decodeShard(shards.get([...shards.keys()].find((k) => k.startsWith('sft/'))!)!, 'sft'))), 1500],
      [baseOf('pretrain, two batches', rowsOf(decodeShard(shards.get([...shards.keys()].find((k) => k.startsWith('pretrain-gpt2/'))!)!, 'gpt2'))), 800],
      // Three full batches and a short one, so that swapping two full ones still reads (as other rows).
      [baseOf('four batches', [3, 5, 7, 9, 11, 13, 15].map((k) => synthetic(k === 15 ? 10 : BATCH_TOKENS / 2, k))), 1000],
      [baseOf('no rows', []), 200],
    ];
    const rng = new Rng(Uint32Array.of(24, 2, 2026, 7));
    const problems: string[] = [];
    const tally = { rows: 0, errors: 0 };
    for (const [base, count] of bases) {
      let n = 0;
      for (const c of damaged(base, rng, count)) {
        const { read, problem } = outcome(c);
        if (problem !== null) problems.push(`${base.name}: ${problem}`);
        if (read) tally.rows++;
        else tally.errors++;
        n++;
      }
      expect(n, base.name).toBe(count);
    }
    expect(problems.slice(0, 20)).toEqual([]);
    // Value flips read as other rows; the rest is refused.
    expect(tally.rows).toBeGreaterThan(200);
    expect(tally.errors).toBeGreaterThan(3000);
  });

  it('refuses a huge declared number at its own bytes, saying what the rest of the file can hold, before allocating', () => {
    const bytes = Buffer.from(shards.get([...shards.keys()].find((k) => k.startsWith('sft/'))!)!);
    const batch = STREAM_HEADER.length;
    bytes.writeBigUInt64LE(2n ** 40n, batch + ROWS_AT);
    expect(() => decodeShard(bytes, 'sft.arrow')).toThrow(
      new RegExp(`^sft\\.arrow \\(byte ${batch + ROWS_AT}\\): not a meap shard: the record batch's row count is 1099511627776, more than the \\d+ the rest of the file can hold \\(truncated\\?\\)$`),
    );
    const values = Buffer.from(shards.get([...shards.keys()].find((k) => k.startsWith('sft/'))!)!);
    values.writeBigUInt64LE(2n ** 64n - 1n, batch + NODES_AT + 16);
    expect(() => decodeShard(values, 'sft.arrow')).toThrow(`sft.arrow (byte ${batch + NODES_AT + 16}): not a meap shard: the value count of input_ids is 18446744073709551615, more than the`);
  });

  it('names what is wrong in words', () => {
    const bytes = shards.get([...shards.keys()].find((k) => k.startsWith('pretrain-gpt2/'))!)!;
    const message = (b: Uint8Array) => {
      try {
        decodeShard(b, 'x.arrow');
      } catch (e) {
        return (e as Error).message;
      }
      return 'read';
    };
    expect(message(Buffer.from('PAR1 is not a shard'))).toBe('x.arrow (byte 0): not a meap shard: the schema message (input_ids, labels, position_ids, each List<Int32>) is not what meap writes');
    expect(message(new Uint8Array(0))).toBe('x.arrow (byte 0): not a meap shard: the file ends inside the schema message (input_ids, labels, position_ids, each List<Int32>) (truncated?)');
    expect(message(Buffer.concat([bytes, Buffer.from([0])]))).toBe(`x.arrow (byte ${bytes.length}): not a meap shard: 1 byte follows the end-of-stream marker`);
    expect(message(bytes.subarray(0, STREAM_HEADER.length + 100))).toBe(`x.arrow (byte ${STREAM_HEADER.length + 100}): not a meap shard: the file ends inside a record batch's metadata (truncated?)`);
    const twoBatches = baseOf('two', rowsOf(decodeShard(bytes, 'x.arrow')));
    const [first, second] = twoBatches.messages.slice(1, 3);
    const swapped = Buffer.concat([bytes.subarray(0, first[0]), bytes.subarray(...second), bytes.subarray(...first), bytes.subarray(second[1])]);
    expect(message(swapped)).toMatch(new RegExp(`^x\\.arrow \\(byte ${first[0] + second[1] - second[0]}\\): not a meap shard: a record batch follows one of \\d+ tokens, which meap would have closed only at the shard's end \\(${BATCH_TOKENS} tokens\\)$`));
  });
});
