import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packIds, unpackIds, wellFormed } from '../../../pipeline/tokenize/ids.ts';

const lists = (packed: Int32Array) => unpackIds(packed).map((a) => Array.from(a));

describe('packIds / unpackIds', () => {
  it('round-trips any list of encodings, empty ones included', () => {
    expect(Array.from(packIds([]))).toEqual([0]);
    expect(lists(packIds([]))).toEqual([]);
    expect(lists(packIds([new Int32Array(0)]))).toEqual([[]]);
    expect(lists(packIds([new Int32Array(0), Int32Array.of(1, 2), new Int32Array(0)]))).toEqual([[], [1, 2], []]);
    fc.assert(
      fc.property(fc.array(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 20 }), { maxLength: 20 }), (docs) => {
        expect(lists(packIds(docs.map((d) => Int32Array.from(d))))).toEqual(docs);
      }),
    );
  });

  it('unpacks views into the one buffer, so a worker hands ids back without copying', () => {
    const packed = packIds([Int32Array.of(7, 8), Int32Array.of(9)]);
    for (const a of unpackIds(packed)) expect(a.buffer).toBe(packed.buffer);
  });
});

describe('wellFormed', () => {
  it('replaces lone surrogates with U+FFFD, as the native binding does, and nothing else', () => {
    expect(wellFormed('a\ud800b')).toBe('a\ufffdb');
    expect(wellFormed('a\udfffb')).toBe('a\ufffdb');
    expect(wellFormed('\ud800')).toBe('\ufffd');
    expect(wellFormed('end\udbff')).toBe('end\ufffd');
    // A low surrogate before a high one is two lone halves, not a pair.
    expect(wellFormed('\udc00\ud800')).toBe('\ufffd\ufffd');
    expect(wellFormed('\ud800\ud83d\ude42')).toBe('\ufffd\u{1F642}');
    for (const ok of ['', 'plain', '🙂😀👩🏽‍💻', 'x\u{323b0}y', '\ufffd', '\ue000\uffff']) expect(wellFormed(ok)).toBe(ok);
  });

  it('agrees with String.prototype.toWellFormed on strings dense in surrogate halves', () => {
    const unit = fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.integer({ min: 0, max: 0xffff })).map((c) => String.fromCharCode(c));
    const toWellFormed = (s: string) => (s as unknown as { toWellFormed(): string }).toWellFormed();
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 12 }), (units) => {
        const s = units.join('');
        expect(wellFormed(s)).toBe(toWellFormed(s));
      }),
    );
  });
});

