import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GPT2_PATTERN, Gpt2Split } from '../../../../pipeline/tokenize/bpe/gpt2-split.ts';
import { onigSource } from '../../../../pipeline/tokenize/regex.ts';

const source = onigSource(GPT2_PATTERN, 'u');

/** The regex's pieces, as the encoder took them before the scanner. */
function regexPieces(text: string): string[] {
  return [...text.matchAll(new RegExp(source, 'gu'))].map((m) => m[0]);
}

function scannerPieces(split: Gpt2Split, text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const end = split.end(text, i);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

// Each a character the split once turned on: contractions' letters, every kind of white space
// (Oniguruma's \s, not JavaScript's), letters and digits old and new to Unicode, marks, astral ones.
const CHARS = [..."astlrvemdST'’ 0 9", '\n', '\r', '\t', '\u000b', '\u00a0', '\u0085', '\ufeff', '\u2028', '\u3000', '\u200b', 'é', '\u0301', '中', '٣', '½', '\u088f', '\u{11de0}', '😀', '𝐀', '.', '-', '$'];

describe('Gpt2Split', () => {
  it('applies to the GPT-2 split only', () => {
    expect(Gpt2Split.of(source)).not.toBeNull();
    expect(Gpt2Split.of(onigSource("'s| ?\\p{L}+|\\s+", 'u'))).toBeNull();
  });

  it('cuts random text exactly where the regex does', () => {
    const split = Gpt2Split.of(source)!;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...CHARS), { maxLength: 60 }), (chars) => {
        const text = chars.join('');
        expect(scannerPieces(split, text)).toEqual(regexPieces(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('cuts every BMP code point, alone and between spaces and letters, where the regex does', () => {
    const split = Gpt2Split.of(source)!;
    for (let cp = 0; cp < 0x10000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCharCode(cp);
      for (const text of [c, ` ${c}a`, `a${c}${c}  `]) expect(scannerPieces(split, text)).toEqual(regexPieces(text));
    }
  });
});
