/**
 * The encoding engines: meap's own `bpe` (in this thread, or a worker pool), native Rust `tokenizers`
 * (rayon threads) and the pure-JS one (a worker pool). All three give identical ids.
 */
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { MeapError, tokenizerError } from '../../core/errors.ts';
import type { Engine } from '../../schemas/enums.ts';
import { workerPool } from '../../core/worker-entry.ts';
import type { BpeModel } from './bpe/bpe-model.ts';
import { cachedBpeModel } from './bpe/table-cache.ts';
import { bpeEncoder, type Encoder } from './encoder.ts';
import type { PoolData } from './worker.ts';
import { unpackIds } from './ids.ts';
import { buildJsTokenizer, encodeWithJs } from './js.ts';
import type { LoadedTokenizer } from './load.ts';

function engineError(tok: LoadedTokenizer, engine: Engine, e: unknown): MeapError {
  if (e instanceof MeapError) return e;
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return tokenizerError(
    `the ${engine} engine cannot load this tokenizer.json (${msg})`,
    tok.path,
    engine === 'js' ? 'try --engine native' : 'try --engine js, or re-save the tokenizer with a recent `tokenizers`',
  );
}

/** The engine a run gets: `bpe` where its split is proven exact for this tokenizer, else native, with the reason. */
export type ResolvedEngine = { engine: 'bpe'; model: BpeModel } | { engine: 'native' | 'js'; fallback?: string };

export async function resolveEngine(tok: LoadedTokenizer, engine: Engine): Promise<ResolvedEngine> {
  if (engine !== 'bpe') return { engine };
  const load = await cachedBpeModel(tok.plainJson);
  return load.ok ? { engine: 'bpe', model: load.model } : { engine: 'native', fallback: `the bpe engine does not apply to this tokenizer (${load.why}); using the native engine` };
}

/*
 * Rayon sizes its global pool once, from RAYON_NUM_THREADS, when the first parallel call starts it;
 * later values are ignored. So the first native encoder in a process decides the thread count for
 * every later one, and nothing else in the process may have used the native library first.
 */
let rayonStarted = false;

export async function createEncoder(tok: LoadedTokenizer, engine: Engine | ResolvedEngine, workers: number): Promise<Encoder> {
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers must be a positive integer, got ${workers}`);
  const resolved = typeof engine === 'string' ? await resolveEngine(tok, engine) : engine;
  if (resolved.engine === 'native') return createNativeEncoder(tok, workers);
  if (resolved.engine === 'bpe') {
    return workers > 1 ? createPoolEncoder({ engine: 'bpe', model: resolved.model, threads: workers }, workers) : bpeEncoder(resolved.model);
  }
  if (workers === 1) {
    let js: JsTokenizer;
    try {
      js = buildJsTokenizer(tok.plainJson);
    } catch (e) {
      throw engineError(tok, 'js', e);
    }
    return {
      async encodeBatch(texts) {
        return texts.map((t) => encodeWithJs(js, t));
      },
      async close() {},
    };
  }
  try {
    // Fail here, in the caller's thread, rather than as a worker crash on the first batch.
    buildJsTokenizer(tok.plainJson);
  } catch (e) {
    throw engineError(tok, 'js', e);
  }
  return createPoolEncoder({ engine: 'js', json: tok.plainJson }, workers);
}

async function createNativeEncoder(tok: LoadedTokenizer, workers: number): Promise<Encoder> {
  const { Tokenizer } = await import('tokenizers');
  let native: InstanceType<typeof Tokenizer>;
  try {
    native = Tokenizer.fromString(tok.plainJson);
  } catch (e) {
    throw engineError(tok, 'native', e);
  }
  if (!rayonStarted) process.env.RAYON_NUM_THREADS = String(workers);
  return {
    async encodeBatch(texts) {
      if (texts.length === 0) return [];
      rayonStarted = true;
      // No wellFormed() here: N-API's UTF-8 conversion already turns lone surrogates into U+FFFD.
      const encodings = await native.encodeBatch(texts, { addSpecialTokens: false });
      return encodings.map((e) => Int32Array.from(e.getIds()));
    },
    async close() {},
  };
}

async function createPoolEncoder(data: PoolData, workers: number): Promise<Encoder> {
  const pool = await workerPool(new URL('./worker.ts', import.meta.url), workers, data);
  return {
    async encodeBatch(texts) {
      if (texts.length === 0) return [];
      // Contiguous slices of about equal characters, a few per thread so one long document does not idle the rest.
      let total = 0;
      for (const t of texts) total += t.length;
      const target = Math.max(1, Math.ceil(total / (workers * 4)));
      const slices: string[][] = [];
      let cur: string[] = [];
      let size = 0;
      for (const t of texts) {
        cur.push(t);
        size += t.length;
        if (size >= target) {
          slices.push(cur);
          cur = [];
          size = 0;
        }
      }
      if (cur.length > 0) slices.push(cur);
      const results = await Promise.all(slices.map((s) => pool.run({ texts: s }) as Promise<Int32Array>));
      return results.flatMap(unpackIds);
    },
    async close() {
      await pool.destroy();
    },
  };
}
