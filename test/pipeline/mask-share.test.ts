import { describe, expect, it } from 'vitest';
import { MeapError } from '../../core/errors.ts';
import { checkSpanFits, maskShortfall } from '../../pipeline/mask-share.ts';
import { pretrainSettings, sftSettings } from './helpers.ts';

const settings = pretrainSettings();

describe('checkSpanFits', () => {
  const refusal = (seqLen: number, spanLength: number, maskRatio = 0.15) => {
    try {
      checkSpanFits({ mask: 'span', maskRatio, spanLength, seqLen });
      return null;
    } catch (e) {
      expect(e).toBeInstanceOf(MeapError);
      expect((e as MeapError).exitCode).toBe(2);
      return (e as MeapError).message;
    }
  };

  it('refuses a span that no row can hold, naming the smallest --seq-len and the longest --span-length that work', () => {
    expect(refusal(128, 50)).toBe(
      '--span-length 50 does not fit a 128-token row: at --mask-ratio 0.15 no row would get a single span, and nothing would be masked (pass --seq-len 335 or more, or --span-length 19 or less)',
    );
    expect(refusal(256, 5000)).toMatch(/\(pass --seq-len 33335 or more, or --span-length 38 or less\)$/);
  });

  it('accepts the edge itself, and every setting that masks nothing on purpose', () => {
    expect(refusal(335, 50)).toBeNull();
    expect(refusal(334, 50)).toMatch(/--seq-len 335 or more, or --span-length 49 or less/);
    expect(refusal(128, 50, 0)).toBeNull();
    expect(() => checkSpanFits({ mask: 'random', maskRatio: 0.15, spanLength: null, seqLen: 2 })).not.toThrow();
  });

  it('says to raise the ratio where no span length fits the row', () => {
    expect(refusal(128, 1, 0.001)).toMatch(/\(pass --seq-len 1001 or more\)$/);
  });
});

describe('maskShortfall', () => {
  it('is silent at 90% of the ratio and above, and for --mask none or a ratio of 0', () => {
    expect(maskShortfall(settings, 135, 1000)).toBeNull();
    expect(maskShortfall({ ...settings, mask: 'none' }, 0, 1000)).toBeNull();
    expect(maskShortfall({ ...settings, maskRatio: 0 }, 0, 1000)).toBeNull();
  });

  it('counts masked positions of the eligible ones, and says what to change', () => {
    expect(maskShortfall({ ...settings, seqLen: 512, mask: 'span', spanLength: 50 }, 134, 1000)).toBe(
      'masked 13.40% of the eligible positions, under 90% of --mask-ratio 0.15 (a full 512-token row gets 9.78%; raise --seq-len or lower --span-length)',
    );
    expect(maskShortfall({ ...settings, seqLen: 16 }, 2, 15)).toMatch(/\(a full 16-token row gets 13\.33%; raise --seq-len\)$/);
  });

  it("sft: the share is of the copies' answer tokens; nothing duplicated is said too", () => {
    const sft = sftSettings({ maskRatio: 0.1, minAnswerTokens: 50 });
    expect(maskShortfall(sft, 9, 100)).toBeNull();
    expect(maskShortfall(sft, 8, 100)).toMatch(/^masked 8\.00% of the eligible positions, under 90% of --mask-ratio 0\.1 \(an answer of n tokens gets max\(1, floor\(0\.1 × n\)\) masked/);
    expect(maskShortfall(sft, 0, 0)).toBe('no answer has more than --min-answer-tokens 50 tokens: nothing was duplicated or masked (lower --min-answer-tokens)');
  });
});
