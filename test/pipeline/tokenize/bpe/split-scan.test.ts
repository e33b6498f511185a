import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandCaseless, GPT2_PATTERN } from '../../../../pipeline/tokenize/bpe/bpe-model.ts';
import { LLAMA3_PATTERN, SplitScanner } from '../../../../pipeline/tokenize/bpe/split-scan.ts';
import { onigSource } from '../../../../pipeline/tokenize/regex.ts';

/** Each pattern as model.ts hands it to the encoder. */
const SOURCES = { gpt2: onigSource(GPT2_PATTERN, 'u'), llama3: onigSource(expandCaseless(LLAMA3_PATTERN), 'u') };

/** The regex's pieces, as the encoder took them before the scanner. */
const regexPieces = (source: string, text: string): string[] => [...text.matchAll(new RegExp(source, 'gu'))].map((m) => m[0]);

function scannerPieces(scanner: SplitScanner, text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const end = scanner.end(text, i);
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

// Each a character a split once turned on: contractions' letters in both cases and ſ, every kind of
// white space (Oniguruma's \s, not JavaScript's) with \r and \n, letters and digits old and new to
// Unicode, marks, astral ones, punctuation.
const CHARS = [..."astlrvemdSTLREVMDſK'’ 0 91", '\n', '\r', '\t', '\u000b', '\u00a0', '\u0085', '\ufeff', '\u2028', '\u3000', '\u200b', 'é', '\u0301', '中', '٣', '½', '\u088f', '\u{11de0}', '😀', '𝐀', '.', '-', '$'];

describe.each(Object.entries(SOURCES))('SplitScanner, %s', (_, source) => {
  const scanner = SplitScanner.of(source)!;

  it('applies to this split, not to another', () => {
    expect(scanner).not.toBeNull();
    expect(SplitScanner.of(onigSource("'s| ?\\p{L}+|\\s+", 'u'))).toBeNull();
  });

  it('cuts random text exactly where the regex does', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...CHARS), { maxLength: 60 }), (chars) => {
        const text = chars.join('');
        expect(scannerPieces(scanner, text)).toEqual(regexPieces(source, text));
      }),
      { numRuns: 3000 },
    );
  });

  it('cuts every BMP code point, alone and between spaces, letters and digits, where the regex does', () => {
    for (let cp = 0; cp < 0x10000; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const c = String.fromCharCode(cp);
      for (const text of [c, ` ${c}a`, `a${c}${c}  `, `1${c}2345\n`]) expect(scannerPieces(scanner, text)).toEqual(regexPieces(source, text));
    }
  });
});
