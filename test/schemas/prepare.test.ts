import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SPAN_LENGTH, DEFAULT_TEXT_FIELD, PrepareConfigSchema } from '../../schemas/prepare.ts';

const base = { inputs: ['in.jsonl'], out: 'out', tokenizer: 'tokenizer.json' };

const issues = (v: unknown) => {
  const r = PrepareConfigSchema.safeParse(v);
  if (r.success) throw new Error(`expected ${JSON.stringify(v)} to fail`);
  return r.error.issues;
};

describe('PrepareConfigSchema', () => {
  it('defaults to pretrain when mode is left out', () => {
    expect(PrepareConfigSchema.parse(base).mode).toBe('pretrain');
    expect(PrepareConfigSchema.parse({ ...base, mode: undefined }).mode).toBe('pretrain');
    expect(PrepareConfigSchema.parse({ ...base, mode: 'sft' }).mode).toBe('sft');
  });

  it('fills the pretrain defaults', () => {
    expect(PrepareConfigSchema.parse(base)).toEqual({
      ...base,
      mode: 'pretrain',
      engine: 'bpe',
      workers: availableParallelism(),
      bos: true,
      eos: true,
      seqLen: 4096,
      seed: 0,
      shardRows: 1024,
      onError: 'fail',
      maxDocChars: 8_000_000,
      overwrite: false,
      dryRun: false,
      progress: 'auto',
      textField: DEFAULT_TEXT_FIELD,
      excludeSets: [],
      mask: 'random',
      maskRatio: 0.15,
      spanLength: null,
    });
  });

  it('fills the sft defaults, with the fine-tuning mask ratio', () => {
    const c = PrepareConfigSchema.parse({ ...base, mode: 'sft' });
    expect(c).toMatchObject({ maskRatio: 0.1, template: 'alpaca', minAnswerTokens: 50, sftLayout: 'concat', pack: false, workers: availableParallelism() });
    expect(c).not.toHaveProperty('spanLength');
    expect(c).not.toHaveProperty('mask');
  });

  it('gives a span length only with --mask span: 5 by default, or the one asked for', () => {
    expect(PrepareConfigSchema.parse({ ...base, mask: 'span' })).toMatchObject({ mask: 'span', spanLength: DEFAULT_SPAN_LENGTH });
    expect(DEFAULT_SPAN_LENGTH).toBe(5);
    expect(PrepareConfigSchema.parse({ ...base, mask: 'span', spanLength: 50 })).toMatchObject({ spanLength: 50 });
    expect(PrepareConfigSchema.parse({ ...base, mask: 'none' })).toMatchObject({ mask: 'none', spanLength: null });
    expect(PrepareConfigSchema.parse({ ...base, mask: 'random' })).toMatchObject({ spanLength: null });
  });

  it('keeps explicit values over defaults', () => {
    expect(PrepareConfigSchema.parse({ ...base, workers: 3, maskRatio: 0.5, seqLen: 2, bos: false })).toMatchObject({
      workers: 3,
      maskRatio: 0.5,
      seqLen: 2,
      bos: false,
    });
    expect(PrepareConfigSchema.parse({ ...base, mode: 'sft', maskRatio: 0 }).maskRatio).toBe(0);
  });

  it.each([['pack', true], ['template', 'llama3'], ['minAnswerTokens', 10], ['sftLayout', 'separate']])(
    'refuses the sft-only key %s in pretrain mode',
    (key, value) => {
      for (const v of [{ ...base, [key]: value }, { ...base, mode: 'pretrain', [key]: value }]) {
        expect(issues(v)).toEqual([expect.objectContaining({ code: 'unrecognized_keys', keys: [key] })]);
      }
    },
  );

  it.each([['mask', 'span'], ['textField', 'content'], ['excludeSets', ['ArXiv']], ['spanLength', 5]])(
    'refuses the pretrain-only key %s in sft mode',
    (key, value) => {
      expect(issues({ ...base, mode: 'sft', [key]: value })).toEqual([expect.objectContaining({ code: 'unrecognized_keys', keys: [key] })]);
    },
  );

  it.each([
    [{ spanLength: 50 }, 'spanLength', ['span']],
    [{ mask: 'random', spanLength: 50 }, 'spanLength', ['span']],
    [{ mask: 'none', spanLength: 5 }, 'spanLength', ['span']],
    [{ mask: 'none', maskRatio: 0.3 }, 'maskRatio', ['random', 'span']],
    [{ mask: 'none', seed: 7 }, 'seed', ['random', 'span']],
  ])('refuses %j: the chosen --mask ignores it', (given, key, values) => {
    expect(issues({ ...base, ...given })).toContainEqual(expect.objectContaining({ code: 'custom', path: [key], params: { onlyWith: { key: 'mask', values } } }));
  });

  it('takes the strategy options where the strategy reads them, and leaves them to their defaults otherwise', () => {
    expect(PrepareConfigSchema.parse({ ...base, mask: 'span', spanLength: 50, maskRatio: 0.3, seed: 7 })).toMatchObject({ spanLength: 50, maskRatio: 0.3, seed: 7 });
    expect(PrepareConfigSchema.parse({ ...base, mask: 'none' })).toMatchObject({ mask: 'none', spanLength: null });
  });

  it('refuses a key neither mode knows', () => {
    expect(issues({ ...base, seq_len: 8 })[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['seq_len'] });
  });

  it('refuses values out of range, naming the key', () => {
    expect(issues({ ...base, seqLen: 1 })[0]).toMatchObject({ code: 'too_small', path: ['seqLen'] });
    expect(issues({ ...base, maskRatio: 2 })[0]).toMatchObject({ code: 'too_big', path: ['maskRatio'] });
    expect(issues({ ...base, mode: 'sft', maskRatio: -0.1 })[0]).toMatchObject({ code: 'too_small', path: ['maskRatio'] });
    expect(issues({ ...base, workers: 0 })[0]).toMatchObject({ path: ['workers'] });
    expect(issues({ ...base, seqLen: 2.5 })[0]).toMatchObject({ path: ['seqLen'] });
    expect(issues({ ...base, mask: 'span', spanLength: 0 })[0]).toMatchObject({ path: ['spanLength'] });
    expect(issues({ ...base, seed: Number.MAX_SAFE_INTEGER + 2 })[0]).toMatchObject({ path: ['seed'] });
  });

  it('refuses an unknown mode, no inputs, and a value that is not an object', () => {
    expect(issues({ ...base, mode: 'finetune' })[0].path).toEqual(['mode']);
    expect(issues({ ...base, inputs: [] })[0]).toMatchObject({ path: ['inputs'], message: 'give at least one input path, directory or glob' });
    expect(issues(null)[0]).toMatchObject({ code: 'invalid_type', path: [] });
    expect(issues('in.jsonl')[0]).toMatchObject({ code: 'invalid_type', path: [] });
  });
});
