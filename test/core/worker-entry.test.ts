import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { describe, expect, it } from 'vitest';
import { cacheRoot } from '../../core/cache.ts';
import { workerEntry, workerExecArgv } from '../../core/worker-entry.ts';

describe('workerEntry', () => {
  it('bundles a TypeScript module into plain JavaScript a worker loads without tsx, once per content', async () => {
    const entry = new URL('../../pipeline/tokenize/worker.ts', import.meta.url);
    const href = await workerEntry(entry);
    expect(href).toBe(pathToFileURL(path.join(cacheRoot(), 'workers', path.basename(fileURLToPath(href)))).href);
    expect(href).toMatch(/\/worker-[0-9a-f]{16}\.mjs$/);
    expect(await workerEntry(entry)).toBe(href);
    const code = fs.readFileSync(fileURLToPath(href), 'utf8');
    expect(code).not.toMatch(/from ["']\.\.?\//); // our modules are inside
    expect(code).toMatch(/from "file:\/\/[^"]*apache-arrow|from "file:\/\/[^"]*piscina/); // packages stay imports, by URL
    // A plain worker (no loader registered) loads it and runs the bpe engine from shared tables.
    const { loadTokenizer } = await import('../../pipeline/tokenize/load.ts');
    const { loadBpeModel } = await import('../../pipeline/tokenize/bpe/bpe-model.ts');
    const load = loadBpeModel((await loadTokenizer(fileURLToPath(new URL('../../../shared/fixtures/tokenizers/gpt2/tokenizer.json', import.meta.url)))).plainJson);
    if (!load.ok) throw new Error(load.why);
    const pool = new Piscina({ filename: href, maxThreads: 1, workerData: { engine: 'bpe', model: load.model } });
    try {
      const packed = (await pool.run({ texts: ['Hello world'] })) as Int32Array;
      expect(Array.from(packed)).toEqual([1, 2, 15496, 995]);
    } finally {
      await pool.destroy();
    }
  });

  it('keeps zod, apache-arrow and the tokenizer libraries out of the unit worker, which runs once per core', async () => {
    // Each costs every thread megabytes; the bpe engine and datasets/shards/stream.ts need none of them.
    const code = fs.readFileSync(fileURLToPath(await workerEntry(new URL('../../pipeline/unit-worker.ts', import.meta.url))), 'utf8');
    const packages = [...code.matchAll(/from "file:\/\/[^"]*\/node_modules\/((?:@[^/"]+\/)?[^/"]+)\//g)].map((m) => m[1]);
    expect(packages.length).toBeGreaterThan(0);
    for (const heavy of ['zod', 'apache-arrow', '@huggingface/tokenizers', 'tokenizers']) expect(packages).not.toContain(heavy);
  });

  it('starts workers with the parent\'s Node options, or with none where the parent runs module hooks', () => {
    expect(workerExecArgv([])).toBeUndefined();
    expect(workerExecArgv(['--max-old-space-size=4096', '--enable-source-maps'])).toBeUndefined();
    for (const hooks of [['--import', 'tsx'], ['--loader=x.mjs'], ['-r', 'a.cjs'], ['--require=b.cjs'], ['--experimental-loader', 'y']]) {
      expect(workerExecArgv(['--max-old-space-size=4096', ...hooks])).toEqual([]);
    }
  });
});
