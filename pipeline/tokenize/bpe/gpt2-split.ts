/**
 * GPT-2's pre-tokenizer regex as a hand-written scanner: the same pieces as the regex (as rewritten
 * by regex.ts to match Oniguruma), several times faster, for every ByteLevel tokenizer that uses it.
 * Piece by piece, at position i, in the regex's order of alternatives:
 * - 's 't 're 've 'm 'll 'd;
 * - an optional " " then a run of letters, or of numbers, or of anything else but white space;
 * - white space up to the end of the text, or all of it but the last character when more than one
 *   character follows it (`\s+(?!\S)` backs off one), or else the one character (`\s+`).
 * Covered against the regex on random text by test/pipeline/tokenize/bpe/gpt2-split.test.ts.
 */
import { onigSource } from '../regex.ts';

/** The GPT-2 regex the ByteLevel pre-tokenizer uses when `use_regex` is on (tokenizers' byte_level.rs). */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const LETTER = 1;
const NUMBER = 2;
const SPACE = 3;
const OTHER = 4;

const APOSTROPHE = 39;

export class Gpt2Split {
  /** Class of each BMP code point, 0 until first seen: read from the rewritten regex's own classes. */
  private readonly bmp = new Uint8Array(0x10000);
  private readonly letter = new RegExp(`^${onigSource('\\p{L}', 'u')}$`, 'u');
  private readonly number = new RegExp(`^${onigSource('\\p{N}', 'u')}$`, 'u');
  private readonly space = new RegExp(`^${onigSource('\\s', 'u')}$`, 'u');

  /** A scanner where `split` (a ByteLevel model's split source) is GPT-2's, else null. */
  static of(split: string): Gpt2Split | null {
    return split === onigSource(GPT2_PATTERN, 'u') ? new Gpt2Split() : null;
  }

  private classify(cp: number): number {
    const c = String.fromCodePoint(cp);
    return this.letter.test(c) ? LETTER : this.number.test(c) ? NUMBER : this.space.test(c) ? SPACE : OTHER;
  }

  /** The class of the code point at i (the text is well-formed: a high surrogate has its low one). */
  private classAt(text: string, i: number): number {
    const u = text.charCodeAt(i);
    if (u < 0xd800 || u > 0xdbff) {
      let k = this.bmp[u];
      if (k === 0) k = this.bmp[u] = this.classify(u);
      return k;
    }
    return this.classify(text.codePointAt(i)!);
  }

  /** The end of the run of `cls` code points from i. */
  private runEnd(text: string, i: number, cls: number): number {
    const len = text.length;
    while (i < len && this.classAt(text, i) === cls) {
      const u = text.charCodeAt(i);
      i += u >= 0xd800 && u <= 0xdbff ? 2 : 1;
    }
    return i;
  }

  /** The end of the piece that starts at i < text.length: every position starts one. */
  end(text: string, i: number): number {
    const len = text.length;
    const c = text.charCodeAt(i);
    if (c === APOSTROPHE && i + 1 < len) {
      const d = text.charCodeAt(i + 1);
      if (d === 115 || d === 116 || d === 109 || d === 100) return i + 2; // s t m d
      if (i + 2 < len) {
        const e = text.charCodeAt(i + 2);
        if ((d === 114 || d === 118) && e === 101) return i + 3; // re ve
        if (d === 108 && e === 108) return i + 3; // ll
      }
    }
    if (c === 32 && i + 1 < len) {
      const next = this.classAt(text, i + 1);
      if (next !== SPACE) return this.runEnd(text, i + 1, next);
    }
    const cls = this.classAt(text, i);
    if (cls !== SPACE) return this.runEnd(text, i, cls);
    // White space is all in the BMP: one code unit a character.
    const k = this.runEnd(text, i, SPACE);
    return k === len || k - i === 1 ? k : k - 1;
  }
}
