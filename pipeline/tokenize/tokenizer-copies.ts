/**
 * Manifests name their tokenizer by sha256 only (no paths: outputs must be identical anywhere), so
 * `prepare` keeps a content-addressed copy that `inspect` can find again on the same machine.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { cacheRoot } from '../../core/cache.ts';
import { MeapError, usageError } from '../../core/errors.ts';
import { makeDir } from '../../core/make-dir.ts';
import { TOKENIZER_FILE, TOKENIZER_FILES } from '../../schemas/hf-files.ts';
import { loadTokenizer, type LoadedTokenizer } from './load.ts';

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

/**
 * The tokenizer `sha256` names: `given` (a command's --tokenizer), else prepare's cached copy; null
 * where there is neither. A tokenizer of another sha256 is refused in one line, `mismatch(its sha256)`.
 */
export async function tokenizerFor(sha256: string, given: string | undefined, mismatch: (found: string) => string): Promise<LoadedTokenizer | null> {
  const file = given ?? (await findTokenizer(sha256));
  if (file === null) return null;
  const tok = await loadTokenizer(file);
  if (tok.sha256 !== sha256) throw new MeapError('usage', mismatch(tok.sha256.slice(0, 12)), { file: tok.path }, 'pass the tokenizer.json the shards were prepared with');
  return tok;
}

/** The tokenizer a run's checkpoint records by `sha256`, for the commands that cannot go on without it (export, eval --needle). */
export async function runTokenizer(sha256: string, given: string | undefined): Promise<LoadedTokenizer> {
  const short = sha256.slice(0, 12);
  const tok = await tokenizerFor(sha256, given, (found) => `this tokenizer has sha256 ${found}…, the run was trained on shards tokenized with ${short}…`);
  if (tok === null) throw usageError(`no copy of the run's tokenizer (sha256 ${short}…) is cached here`, 'pass --tokenizer PATH, the tokenizer.json the shards were prepared with');
  return tok;
}
