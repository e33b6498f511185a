import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { findTokenizer, rememberTokenizer } from '../../../pipeline/tokenize/tokenizer-copies.ts';
import { TOK, useTempDirs } from './helpers.ts';

const tmp = useTempDirs();
const shaOf = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('the tokenizer cache', () => {
  it('finds a remembered tokenizer by sha256, with the config files beside it', async () => {
    const cache = tmp();
    vi.stubEnv('MEAP_CACHE', cache);
    const sha = shaOf(TOK.llama2);
    expect(await findTokenizer(sha)).toBeNull();
    await rememberTokenizer(TOK.llama2, sha);
    const found = await findTokenizer(sha);
    expect(found).toBe(join(cache, 'tokenizers', sha, 'tokenizer.json'));
    expect(shaOf(found!)).toBe(sha);
    // The config files decide BOS/EOS, so a cached copy must load with the same special ids.
    for (const name of ['tokenizer_config.json', 'special_tokens_map.json']) {
      expect(readFileSync(join(dirname(found!), name), 'utf8')).toBe(readFileSync(join(dirname(TOK.llama2), name), 'utf8'));
    }
  });

  it('copies only the config files that exist', async () => {
    const cache = tmp();
    vi.stubEnv('MEAP_CACHE', cache);
    const sha = shaOf(TOK.gpt2);
    await rememberTokenizer(TOK.gpt2, sha);
    expect(await findTokenizer(sha)).not.toBeNull();
    expect(readFileSync(join(cache, 'tokenizers', sha, 'tokenizer_config.json'), 'utf8')).toBe(readFileSync(join(dirname(TOK.gpt2), 'tokenizer_config.json'), 'utf8'));
    expect(() => readFileSync(join(cache, 'tokenizers', sha, 'special_tokens_map.json'))).toThrow(/ENOENT/);
  });

  it('answers null for a sha256 it never saw', async () => {
    const cache = tmp();
    vi.stubEnv('MEAP_CACHE', cache);
    await rememberTokenizer(TOK.gpt2, shaOf(TOK.gpt2));
    expect(await findTokenizer('0'.repeat(64))).toBeNull();
  });

  it('does not throw when the cache cannot be written', async () => {
    const sha = shaOf(TOK.gpt2);
    // Read-only for an ordinary user; root writes through modes, so also a cache path below a plain file.
    const readOnly = tmp();
    chmodSync(readOnly, 0o555);
    const file = join(tmp(), 'not-a-dir');
    writeFileSync(file, '');
    for (const cache of [readOnly, join(file, 'cache')]) {
      vi.stubEnv('MEAP_CACHE', cache);
      await expect(rememberTokenizer(TOK.gpt2, sha)).resolves.toBeUndefined();
    }
    expect(await findTokenizer(sha)).toBeNull();
    chmodSync(readOnly, 0o755);
  });

  it('leaves nothing findable when the tokenizer file itself is gone', async () => {
    const cache = tmp();
    vi.stubEnv('MEAP_CACHE', cache);
    const missing = join(tmp(), 'tokenizer.json');
    await expect(rememberTokenizer(missing, 'f'.repeat(64))).resolves.toBeUndefined();
    expect(await findTokenizer('f'.repeat(64))).toBeNull();
  });
});
