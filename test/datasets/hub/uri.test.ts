import { describe, expect, it } from 'vitest';
import { MeapError } from '../../../core/errors.ts';
import { parseHfUri, repoRef } from '../../../datasets/hub/uri.ts';

const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

describe('parseHfUri', () => {
  it('parses datasets, models, revisions and globs', () => {
    expect(parseHfUri('hf://datasets/acme/slim@v1.0/data/*.jsonl.zst')).toEqual({
      repoType: 'dataset',
      repoId: 'acme/slim',
      revision: 'v1.0',
      glob: 'data/*.jsonl.zst',
    });
    expect(parseHfUri('hf://datasets/acme/slim/data/')).toMatchObject({ glob: 'data' });
    expect(parseHfUri('hf://datasets/acme/slim')).toEqual({ repoType: 'dataset', repoId: 'acme/slim', revision: 'main' });
    expect(parseHfUri('hf://openai-community/gpt2')).toEqual({ repoType: 'model', repoId: 'openai-community/gpt2', revision: 'main' });
    expect(parseHfUri('hf://acme/m@refs%2Fpr%2F3').revision).toBe('refs/pr/3');
    expect(parseHfUri(`hf://acme/m@${SHA}/sub/tokenizer.json`)).toMatchObject({ revision: SHA, glob: 'sub/tokenizer.json' });
  });

  it.each(['s3://acme/slim', 'hf://gpt2', 'hf://datasets/acme', 'hf://datasets/ac me/slim', 'hf://acme/m@', 'hf://acme/m/../x', 'hf://acme/m/a//b', 'hf://spaces/a/b'])(
    'rejects %s as a usage error',
    (uri) => {
      const e = (() => {
        try {
          parseHfUri(uri);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(MeapError);
      expect((e as MeapError).kind).toBe('usage');
    },
  );
});

describe('repoRef', () => {
  it('takes ORG/NAME with the revision given apart', () => {
    expect(repoRef('dataset', 'acme/slim', 'refs/pr/3')).toEqual({ repoType: 'dataset', repoId: 'acme/slim', revision: 'refs/pr/3' });
    expect(repoRef('model', 'openai-community/gpt2', 'main')).toEqual({ repoType: 'model', repoId: 'openai-community/gpt2', revision: 'main' });
  });

  it.each(['not/a/valid/repo', 'acme', 'acme/slim@v1', 'hf://datasets/acme/slim', 'acme/', '/slim', 'ac me/slim'])('refuses %s, naming it and the expected form', (id) => {
    expect(() => repoRef('dataset', id, 'main')).toThrow(`"${id}" is not a repository id (expected ORG/NAME`);
  });
});
