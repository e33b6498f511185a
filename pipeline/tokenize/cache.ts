/**
 * Manifests name their tokenizer by sha256 only (no paths: outputs must be identical anywhere), so
 * `prepare` keeps a content-addressed copy that `inspect` can find again on the same machine.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheRoot } from '../../core/cache.ts';
import { makeDir } from '../../core/make-dir.ts';
import { TOKENIZER_FILE, TOKENIZER_FILES } from '../../schemas/hf-files.ts';

const entryDir = (sha256: string) => path.join(cacheRoot(), 'tokenizers', sha256);

/** Best effort: a read-only home must not fail a run. */
export async function rememberTokenizer(tokenizerPath: string, sha256: string): Promise<void> {
  try {
    const dir = entryDir(sha256);
    await makeDir(dir);
    for (const name of TOKENIZER_FILES) {
      const from = name === TOKENIZER_FILE ? tokenizerPath : path.join(path.dirname(tokenizerPath), name);
      await fs.copyFile(from, path.join(dir, name)).catch(() => {});
    }
  } catch {
    // The cache is a convenience for `inspect`; `inspect --tokenizer` works without it.
  }
}

export async function findTokenizer(sha256: string): Promise<string | null> {
  const file = path.join(entryDir(sha256), TOKENIZER_FILE);
  try {
    await fs.access(file);
    return file;
  } catch {
    return null;
  }
}
