/**
 * Parquet through hyparquet, one row group at a time: a row group is Parquet's unit of decoding, so
 * it is the smallest memory bound available without a page index. Bytes come from positioned reads
 * on one file handle; the file is never loaded whole.
 */
import type { FileHandle } from 'node:fs/promises';
import type { AsyncBuffer, FileMetaData } from 'hyparquet';
import { InputError, MeapError } from '../core/errors.ts';
import { openInput, unreadable } from './bytes.ts';
import type { InputFile, RawItem, ReadOptions } from './types.ts';
import { readAt } from '../core/file-range.ts';

export async function* readParquet(file: InputFile, opts: ReadOptions = {}): AsyncGenerator<RawItem> {
  // Loaded on first use: every prepare worker thread would otherwise hold them, Parquet input or not.
  const [{ parquetMetadataAsync, parquetReadObjects }, { compressors }] = await Promise.all([import('hyparquet'), import('hyparquet-compressors')]);
  const { handle, size } = await openInput(file);
  // hyparquet re-reads the footer and may fetch overlapping ranges, so raw read counts can exceed
  // the file size; the progress total is the file size, so never report past it.
  let reported = 0;
  const report = (n: number) => {
    const d = Math.min(n, size - reported);
    if (d > 0 && opts.onBytes) opts.onBytes(d);
    reported += Math.max(d, 0);
  };
  try {
    const buffer = fileBuffer(file, handle, size, report);
    let metadata: FileMetaData;
    try {
      metadata = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw corrupt(file, e, 'not a Parquet file');
    }
    const limit = opts.limit ?? Infinity;
    let row = 0;
    for (const group of metadata.row_groups) {
      if (row >= limit) return;
      const rowEnd = Math.min(row + Number(group.num_rows), limit);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, compressors, rowStart: row, rowEnd });
      } catch (e) {
        throw corrupt(file, e, `cannot decode rows ${row}–${rowEnd - 1}`);
      }
      for (const value of rows) {
        yield { kind: 'record', value, where: { file: file.rel, record: row } };
        row++;
      }
    }
    report(size);
  } finally {
    await handle.close().catch(() => {});
  }
}

function fileBuffer(file: InputFile, handle: FileHandle, size: number, onRead: (n: number) => void): AsyncBuffer {
  return {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const len = Math.max(0, stop - start);
      const buf = new Uint8Array(len);
      let off: number;
      try {
        // A file that shrank underneath us reads short; hyparquet reports the short buffer.
        off = await readAt(handle, buf, start);
      } catch (e) {
        throw unreadable(file, e);
      }
      onRead(off);
      return off === len ? buf.buffer : buf.buffer.slice(0, off);
    },
  };
}

function corrupt(file: InputFile, e: unknown, what: string): MeapError {
  if (e instanceof MeapError) return e;
  const why = e instanceof Error ? e.message : String(e);
  return new InputError('corruptFile', `${what}: ${why}`, { file: file.rel });
}
