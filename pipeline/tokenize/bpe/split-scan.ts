/**
 * The pre-tokenizer regexes of GPT-2 and of Llama-3 (cl100k's) as hand-written scanners: the same
 * pieces as the regex (as rewritten by regex.ts to match Oniguruma), several times faster. Other
 * split regexes keep the regex. Piece by piece, at position i, in the regex's order of alternatives.
 *
 * GPT-2:
 * - 's 't 're 've 'm 'll 'd;
 * - an optional " " then a run of letters, or of numbers, or of anything else but white space;
 * - white space (below).
 * Llama-3:
 * - 's 't 're 've 'm 'll 'd in any case;
 * - an optional character other than a letter, number, \r or \n, then a run of letters;
 * - one to three numbers;
 * - an optional " ", a run of anything else but white space, then any \r and \n;
 * - white space up to and including its last \r or \n, when it has one (`\s*[\r\n]+`); else as GPT-2.
 * White space, after those: up to the end of the text, or all of it but the last character when more
 * than one character follows it (`\s+(?!\S)` backs off one), or else the one character (`\s+`).
 * Covered against the regexes on random text by test/pipeline/tokenize/bpe/split-scan.test.ts.
 */
import { onigSource } from '../regex.ts';
import { expandCaseless, GPT2_PATTERN } from './bpe-model.ts';

/** Llama-3's Split regex, cl100k's. */
export const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const LETTER = 1;
const NUMBER = 2;
const SPACE = 3;
const OTHER = 4;

const APOSTROPHE = 39;
const CR = 13;
const LF = 10;

const isHigh = (u: number) => u >= 0xd800 && u <= 0xdbff;

export class SplitScanner {
  /** Class of each BMP code point, 0 until first seen: read from the rewritten regex's own classes. */
  private readonly bmp = new Uint8Array(0x10000);
  /** The same past the BMP (emoji, rare CJK), made at the first such code point: 1 MB, bounded whatever the text. */
  private astral: Uint8Array | null = null;
  private readonly letter = new RegExp(`^${onigSource('\\p{L}', 'u')}$`, 'u');
  private readonly number = new RegExp(`^${onigSource('\\p{N}', 'u')}$`, 'u');
  private readonly space = new RegExp(`^${onigSource('\\s', 'u')}$`, 'u');

  private constructor(private readonly llama3: boolean) {}

  /** A scanner where `split` (a ByteLevel model's split source, see bpe-model.ts) is one of the two, else null. */
  static of(split: string): SplitScanner | null {
    if (split === onigSource(GPT2_PATTERN, 'u')) return new SplitScanner(false);
    if (split === onigSource(expandCaseless(LLAMA3_PATTERN), 'u')) return new SplitScanner(true);
    return null;
  }

  private classify(cp: number): number {
    const c = String.fromCodePoint(cp);
    return this.letter.test(c) ? LETTER : this.number.test(c) ? NUMBER : this.space.test(c) ? SPACE : OTHER;
  }

  /** The class of the code point at i (the text is well-formed: a high surrogate has its low one). */
  private classAt(text: string, i: number): number {
    const u = text.charCodeAt(i);
    if (!isHigh(u)) {
      let k = this.bmp[u];
      if (k === 0) k = this.bmp[u] = this.classify(u);
      return k;
    }
    const cp = text.codePointAt(i)!;
    const astral = (this.astral ??= new Uint8Array(0x100000));
    let k = astral[cp - 0x10000];
    if (k === 0) k = astral[cp - 0x10000] = this.classify(cp);
    return k;
  }

  private static width(text: string, i: number): number {
    return isHigh(text.charCodeAt(i)) ? 2 : 1;
  }

  /** The end of the run of `cls` code points from i, `max` of them at most. */
  private runEnd(text: string, i: number, cls: number, max = Infinity): number {
    const len = text.length;
    for (let n = 0; n < max && i < len && this.classAt(text, i) === cls; n++) i += SplitScanner.width(text, i);
    return i;
  }

  /** The end of the piece that starts at i < text.length: every position starts one. */
  end(text: string, i: number): number {
    return this.llama3 ? this.llama3End(text, i) : this.gpt2End(text, i);
  }

  private gpt2End(text: string, i: number): number {
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
    return this.spaceEnd(text, i, this.runEnd(text, i, SPACE));
  }

  private llama3End(text: string, i: number): number {
    const len = text.length;
    const c = text.charCodeAt(i);
    if (c === APOSTROPHE && i + 1 < len) {
      const d = text.charCodeAt(i + 1) | 0x20;
      if (d === 115 || d === 116 || d === 109 || d === 100 || text.charCodeAt(i + 1) === 0x17f) return i + 2; // s t m d, ſ
      if (i + 2 < len) {
        const e = text.charCodeAt(i + 2) | 0x20;
        if ((d === 114 || d === 118) && e === 101) return i + 3; // re ve
        if (d === 108 && e === 108) return i + 3; // ll
      }
    }
    const cls = this.classAt(text, i);
    if (cls === LETTER) return this.runEnd(text, i, LETTER);
    if (cls === NUMBER) return this.runEnd(text, i, NUMBER, 3);
    // A prefix character before letters: anything but a letter, number, \r or \n.
    if (c !== CR && c !== LF) {
      const w = SplitScanner.width(text, i);
      if (i + w < len && this.classAt(text, i + w) === LETTER) return this.runEnd(text, i + w, LETTER);
    }
    let j = -1;
    if (cls === OTHER) j = i;
    else if (c === 32 && i + 1 < len && this.classAt(text, i + 1) === OTHER) j = i + 1;
    if (j >= 0) {
      let k = this.runEnd(text, j, OTHER);
      while (k < len && (text.charCodeAt(k) === CR || text.charCodeAt(k) === LF)) k++;
      return k;
    }
    // White space, all in the BMP: one code unit a character.
    const k = this.runEnd(text, i, SPACE);
    for (let n = k - 1; n >= i; n--) {
      const u = text.charCodeAt(n);
      if (u === CR || u === LF) return n + 1;
    }
    return this.spaceEnd(text, i, k);
  }

  /** White space [i, k): `\s+(?!\S)`, else `\s+`. */
  private spaceEnd(text: string, i: number, k: number): number {
    return k === text.length || k - i === 1 ? k : k - 1;
  }
}
