import { describe, expect, it } from 'vitest';
import { embeddingRows, EvalConfigSchema, ExportConfigSchema, ModelShapeSchema, NeedleConfigSchema, PRESETS, shardSizeBytes, TrainConfigSchema } from '../../schemas/train.ts';

describe('embeddingRows', () => {
  it('is the vocabulary plus [MASK], rounded up to a multiple of 64', () => {
    expect(embeddingRows(32000, 32000)).toBe(32064);
    expect(embeddingRows(50257, 50257)).toBe(50304);
    expect(embeddingRows(63, 63)).toBe(64);
    expect(embeddingRows(64, 64)).toBe(128);
  });

  it('still gives a row to an override mask id past the vocabulary', () => {
    expect(embeddingRows(50257, 60000)).toBe(60032);
    expect(embeddingRows(100, 127)).toBe(128);
    expect(embeddingRows(100, 128)).toBe(192);
  });

  it('always covers the vocabulary and the mask id, in multiples of 64', () => {
    for (const [vocab, mask] of [[1, 0], [1000, 5], [32000, 0], [128256, 128256], [7, 700]]) {
      const rows = embeddingRows(vocab, mask);
      expect(rows % 64).toBe(0);
      expect(rows).toBeGreaterThan(Math.max(vocab, mask));
      expect(rows - Math.max(vocab + 1, mask + 1)).toBeLessThan(64);
    }
  });
});

describe('ModelShapeSchema', () => {
  const shape = { layers: 2, hidden: 64, intermediate: 172, heads: 4, kvHeads: 2 };
  const messages = (v: unknown) => {
    const r = ModelShapeSchema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => i.message);
  };

  it('fills the RoPE base and the norm epsilon', () => {
    expect(ModelShapeSchema.parse(shape)).toEqual({ ...shape, ropeBase: 10000, normEps: 1e-5 });
    expect(ModelShapeSchema.parse({ ...shape, ropeBase: 500000 }).ropeBase).toBe(500000);
  });

  it('needs hidden to split evenly into heads', () => {
    expect(messages({ ...shape, hidden: 66 })).toContain('hidden must be a multiple of heads');
  });

  it('needs heads to split evenly into KV groups', () => {
    expect(messages({ ...shape, kvHeads: 3 })).toEqual(['heads must be a multiple of kvHeads']);
  });

  it('needs an even head size for RoPE', () => {
    expect(messages({ ...shape, hidden: 12 })).toEqual(['the head size (hidden / heads) must be even for RoPE']);
  });

  it('refuses unknown keys and non-positive sizes', () => {
    expect(ModelShapeSchema.safeParse({ ...shape, vocab: 100 }).error?.issues[0].code).toBe('unrecognized_keys');
    expect(ModelShapeSchema.safeParse({ ...shape, layers: 0 }).error?.issues[0].path).toEqual(['layers']);
    expect(ModelShapeSchema.safeParse({ ...shape, heads: 2.5 }).success).toBe(false);
    expect(ModelShapeSchema.safeParse({ ...shape, normEps: 0 }).error?.issues[0].path).toEqual(['normEps']);
  });

  it.each(Object.entries(PRESETS))('preset %s passes the schema unchanged', (_, preset) => {
    expect(ModelShapeSchema.parse(preset)).toEqual(preset);
  });
});

describe('TrainConfigSchema', () => {
  const required = { data: ['shards'], out: 'run', steps: 10 };

  it('fills the defaults', () => {
    // No model: DEFAULT_MODEL, or with --init the checkpoint's own shape (trainer/loop.ts decides).
    expect(TrainConfigSchema.parse(required)).toEqual({
      ...required,
      precision: 'f32',
      batchSize: 8,
      lr: 4e-4,
      minLr: 4e-5,
      warmup: 0.1,
      weightDecay: 0.05,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      clip: 1,
      seed: 0,
      backend: 'auto',
      checkpointEvery: 100,
      keepLast: 3,
      resume: false,
      overwrite: false,
      progress: 'auto',
    });
    expect(TrainConfigSchema.parse({ ...required, microBatch: 2 }).microBatch).toBe(2);
    expect(TrainConfigSchema.parse({ ...required, init: 'hf/llama', steps: 0 })).toMatchObject({ init: 'hf/llama', steps: 0 });
  });

  it('needs data, out and steps', () => {
    for (const key of ['data', 'out', 'steps'] as const) {
      const { [key]: _, ...rest } = required;
      expect(TrainConfigSchema.safeParse(rest).error?.issues[0].path).toEqual([key]);
    }
    expect(TrainConfigSchema.safeParse({ ...required, data: [] }).error?.issues[0].message).toBe('give at least one --data directory');
  });

  it('refuses unknown keys and out-of-range values', () => {
    expect(TrainConfigSchema.safeParse({ ...required, batch_size: 4 }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['batch_size'] });
    for (const [key, value] of [
      ['steps', -1],
      ['init', ''],
      ['beta1', 1],
      ['beta2', -0.1],
      ['warmup', 1.5],
      ['lr', 0],
      ['backend', 'tpu'],
      ['keepLast', 0],
    ] as const) {
      expect(TrainConfigSchema.safeParse({ ...required, [key]: value }).error?.issues[0].path, key).toEqual([key]);
    }
  });
});

describe('ExportConfigSchema', () => {
  it("fills save_pretrained's shard size and reads sizes as huggingface_hub does", () => {
    expect(ExportConfigSchema.parse({ run: 'r', out: 'o' })).toEqual({ run: 'r', out: 'o', maxShardSize: '50GB' });
    expect(['50GB', '5GB', '1.5MB', '10kb', '2TB', '4096'].map(shardSizeBytes)).toEqual([50e9, 5e9, 1.5e6, 1e4, 2e12, 4096]);
    for (const bad of ['lots', '5GiB', '-1MB', '']) expect(ExportConfigSchema.safeParse({ run: 'r', out: 'o', maxShardSize: bad }).success, bad).toBe(false);
    expect(ExportConfigSchema.safeParse({ run: 'r', out: 'o', step: -1 }).success).toBe(false);
  });
});

describe('NeedleConfigSchema', () => {
  it('fills the grid by default and reads lists as --lengths and --depths give them', () => {
    const d = NeedleConfigSchema.parse({ run: 'r', haystack: ['h'] });
    expect(d).toMatchObject({ lengths: [256, 512, 1024, 2048], depths: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100], needles: 4, seed: 0, backend: 'auto', json: false });
    expect(NeedleConfigSchema.parse({ run: 'r', haystack: ['h'], lengths: '128, 4096', depths: '0,100' })).toMatchObject({ lengths: [128, 4096], depths: [0, 100] });
    const bad = (o: Record<string, unknown>) => NeedleConfigSchema.safeParse({ run: 'r', haystack: ['h'], ...o }).error?.issues[0];
    expect(bad({ lengths: '128,x' })?.message).toBe('write lengths as whole numbers separated by commas');
    expect(bad({ lengths: '1.5' })?.message).toBe('write lengths as whole numbers separated by commas');
    expect(bad({ depths: '101' })?.path).toEqual(['depths', 0]);
    expect(bad({ haystack: [] })?.message).toBe('give a --haystack corpus');
  });
});

describe('EvalConfigSchema', () => {
  it('fills the defaults and refuses unknown keys', () => {
    expect(EvalConfigSchema.parse({ run: 'r', data: ['d'] })).toEqual({ run: 'r', data: ['d'], batchRows: 4, attentionStats: false, backend: 'auto', json: false });
    expect(EvalConfigSchema.safeParse({ run: 'r', data: ['d'], steps: 1 }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['steps'] });
    expect(EvalConfigSchema.safeParse({ run: 'r', data: [] }).error?.issues[0].message).toBe('give at least one --data directory');
    expect(EvalConfigSchema.safeParse({ run: '', data: ['d'] }).error?.issues[0].path).toEqual(['run']);
    expect(EvalConfigSchema.safeParse({ run: 'r', data: ['d'], batchRows: 0 }).error?.issues[0].path).toEqual(['batchRows']);
  });
});
