import { beforeAll, describe, expect, it } from 'vitest';
import { settingsOf } from '../../pipeline/settings.ts';
import { PACK_WINDOW_ROWS } from '../../pipeline/sft-pack.ts';
import { loadTemplate } from '../../pipeline/template-file.ts';
import { loadTokenizer, type LoadedTokenizer } from '../../pipeline/tokenize/load.ts';
import { PrepareConfigSchema, type PrepareConfigInput } from '../../schemas/prepare.ts';
import { RunSettingsSchema } from '../../schemas/settings.ts';
import { gpt2 } from '../helpers/cli.ts';

const SFT_KEYS = ['template', 'templateSha256', 'minAnswerTokens', 'sftLayout', 'pack'] as const;
const config = (over: Partial<PrepareConfigInput>) => PrepareConfigSchema.parse({ inputs: ['in.jsonl'], out: 'out', tokenizer: gpt2, ...over });
/** The keys of each mode's settings, in the schema's order. */
const [PRETRAIN_KEYS, SFT_MODE_KEYS] = RunSettingsSchema.options.map((o) => Object.keys(o.shape));

let tok: LoadedTokenizer;
beforeAll(async () => {
  tok = await loadTokenizer(gpt2);
});

describe('settingsOf', () => {
  it('pretrain: every key in the schema order, the SFT keys null', () => {
    const s = settingsOf(config({ mode: 'pretrain', excludeSets: ['b', 'a'], mask: 'span', seqLen: 256, limit: 20 }), tok, null);
    // Key order is part of the bytes of run.json and the manifest.
    expect(Object.keys(s)).toEqual(PRETRAIN_KEYS);
    expect(RunSettingsSchema.parse(s)).toEqual(s);
    for (const k of SFT_KEYS) expect(s[k], k).toBeNull();
    expect(s).toMatchObject({ mode: 'pretrain', format: null, textField: 'text', excludeSets: ['a', 'b'], limit: 20, mask: 'span', spanLength: 5, seqLen: 256, maskRatio: 0.15 });
    expect(s.tokenizer).toEqual({ sha256: tok.sha256, vocabSize: 50257, maskTokenId: 50257, bosId: null, eosId: 50256 });
  });

  it('sft: the mask is sft-duplicate, the pretrain-only keys at their unused values', async () => {
    const cfg = config({ mode: 'sft', sftLayout: 'separate', pack: true, seqLen: 512 });
    const s = settingsOf(cfg, tok, await loadTemplate('alpaca', tok));
    expect(Object.keys(s)).toEqual(SFT_MODE_KEYS);
    expect(RunSettingsSchema.parse(s)).toEqual(s);
    expect(s).toMatchObject({
      mode: 'sft',
      mask: 'sft-duplicate',
      maskRatio: 0.1,
      spanLength: null,
      textField: 'text',
      excludeSets: [],
      template: 'alpaca',
      templateSha256: null,
      minAnswerTokens: 50,
      sftLayout: 'separate',
      pack: { algorithm: 'best-fit-decreasing', windowRows: PACK_WINDOW_ROWS },
    });
    expect(settingsOf(config({ mode: 'sft' }), tok, await loadTemplate('alpaca', tok)).pack).toBe(false);
  });

  it('has every key in both modes, in one order: the manifests of both keep their bytes', () => {
    expect(SFT_MODE_KEYS).toEqual(PRETRAIN_KEYS);
  });

  it('leaves out what never changes a byte: workers, engine, progress, out, overwrite', () => {
    const base = settingsOf(config({ mode: 'pretrain' }), tok, null);
    const other = settingsOf(config({ mode: 'pretrain', workers: 7, engine: 'js', progress: 'none', out: 'elsewhere', overwrite: true }), tok, null);
    expect(other).toEqual(base);
    expect(settingsOf(config({ mode: 'pretrain', seed: 1 }), tok, null)).not.toEqual(base);
  });
});
