import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { detectFormat } from '../../datasets/inputs.ts';
import { type InputFile } from '../../datasets/types.ts';
import { readRecords } from '../../datasets/read-records.ts';
import { type RawItem, type ReadOptions } from '../../datasets/types.ts';
import type { InputFormat } from '../../schemas/enums.ts';
export const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures', import.meta.url));

export async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'meap-datasets-'));
}

/** An InputFile for a path outside any resolveInputs call; rel is the base name. */
export async function inputFile(abs: string, format?: InputFormat): Promise<InputFile> {
  const st = await fs.stat(abs).catch(() => ({ size: 0 }));
  const f = format ?? detectFormat(abs);
  if (!f) throw new Error(`no format for ${abs}`);
  return { abs, rel: path.basename(abs), format: f, size: st.size };
}

export async function fixture(rel: string): Promise<InputFile> {
  const f = await inputFile(path.join(FIXTURES, rel));
  return { ...f, rel };
}

export async function readAll(file: InputFile, opts?: ReadOptions): Promise<RawItem[]> {
  const out: RawItem[] = [];
  for await (const item of readRecords(file, opts)) out.push(item);
  return out;
}

export function values(items: RawItem[]): unknown[] {
  return items.map((i) => {
    if (i.kind !== 'record') throw i.error;
    return i.value;
  });
}

export async function* chunksOf(...parts: (string | Uint8Array)[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
}

/** A temp dir for one test file, removed afterwards, and a writer of input files into it. */
export function useScratch(): { write(name: string, content: string | Uint8Array): Promise<InputFile>; dir(): string } {
  let tmp = '';
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await fs.rm(tmp, { recursive: true, force: true });
  });
  return {
    dir: () => tmp,
    async write(name, content) {
      const p = path.join(tmp, name);
      await fs.writeFile(p, content);
      return inputFile(p);
    },
  };
}
