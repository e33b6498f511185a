/**
 * Which files a run reads, in which order, and how their bytes are opened. The order is part of the
 * output's identity (shards are a pure function of the inputs in this order), so it must not depend
 * on the file system's listing order or on JS string comparison.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, osReason, usageError } from '../core/errors.ts';
import { expandBraces, hasGlob, segmentRegExp } from '../core/glob.ts';
import { FORMATS, type InputFormat } from '../schemas/enums.ts';
import { COMPRESSION_SUFFIX, INPUT_FORMATS } from './formats.ts';
import type { InputFile, SkippedFile } from './types.ts';

/** Every extension with its format, in the order of FORMATS. */
const EXTENSIONS: ReadonlyArray<readonly [string, InputFormat]> = FORMATS.flatMap((f) => INPUT_FORMATS[f].extensions.map((ext) => [ext, f] as const));

/** Every extension an input is known by, for messages and help. */
export const INPUT_EXTENSIONS = EXTENSIONS.map(([ext]) => ext);

/** What a compressed file's name ends with; a file named as another but for one of these holds the same data. */
const COMPRESSED = new RegExp(`(${Object.values(COMPRESSION_SUFFIX).map((x) => x.replace('.', '\\.')).join('|')})$`, 'i');

export function detectFormat(p: string): InputFormat | undefined {
  const name = path.basename(p).toLowerCase();
  // The longest suffix wins, so that no extension can shadow a longer one that ends with it.
  let best: readonly [string, InputFormat] | undefined;
  for (const e of EXTENSIONS) if (name.endsWith(e[0]) && name.length > e[0].length && e[0].length > (best?.[0].length ?? 0)) best = e;
  return best?.[1];
}

export interface ResolvedInputs {
  root: string;
  files: InputFile[];
  /** Files the directories and globs held that are not read, and why; hidden entries are not among them. */
  skipped: SkippedFile[];
}

export async function resolveInputs(specs: string[], opts: { format?: InputFormat } = {}): Promise<ResolvedInputs> {
  if (specs.length === 0) throw usageError('no inputs given', 'pass at least one file, directory or glob');
  const found = new Map<string, InputFile>();
  const skipped = new Map<string, SkippedFile>();
  // Files named one by one: the user asked for each of them.
  const named = new Set<string>();
  for (const spec of specs) {
    const r = await resolveSpec(spec, opts.format);
    for (const f of r.files) if (!found.has(f.abs)) found.set(f.abs, f);
    for (const s of r.skipped) skipped.set(s.file, s);
    if (r.named) named.add(r.files[0].abs);
  }
  const files = [...found.values()];
  const root = commonDir(files.map((f) => f.abs));
  for (const f of files) f.rel = path.relative(root, f.abs).split(path.sep).join('/');
  // Byte order of UTF-8, not UTF-16 code unit order: the two disagree above the BMP, and the
  // manifest must sort the same way as every other tool (Rust, Python bytes, `LC_ALL=C sort`).
  const keys = new Map(files.map((f) => [f, Buffer.from(f.rel, 'utf8')]));
  files.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));
  refuseCompressionTwins(files, named);
  return { root, files, skipped: [...skipped.values()].sort((a, b) => Buffer.compare(Buffer.from(a.file), Buffer.from(b.file))) };
}

/**
 * `x.jsonl` beside `x.jsonl.zst` (or `.gz`) is one dataset kept twice, typically decompressed to look
 * at it: a directory or glob that takes both would read every record twice. Files named one by one
 * are read as asked. `files` are in input order, so the pair named is the same on every run.
 */
export function refuseCompressionTwins(files: InputFile[], named: ReadonlySet<string> = new Set()): void {
  const byStem = new Map<string, InputFile>();
  for (const f of files) {
    const stem = f.rel.replace(COMPRESSED, '');
    const twin = byStem.get(stem);
    if (twin !== undefined && !(named.has(twin.abs) && named.has(f.abs))) {
      throw usageError(
        `"${twin.rel}" and "${f.rel}" differ only by compression, so the same records would be read twice`,
        'remove one of them, or name each file as an argument to read both',
      );
    }
    byStem.set(stem, f);
  }
}

/** The one line that says how many files were left out for their extension, and which extensions. */
export function describeSkipped(skipped: SkippedFile[]): string | null {
  const unknown = skipped.filter((s) => s.reason === 'noInputExtension');
  if (unknown.length === 0) return null;
  const kinds = [...new Set(unknown.map((s) => extensionOf(s.file)))].sort();
  return `skipped ${unknown.length} ${unknown.length === 1 ? 'file' : 'files'} with no input extension: ${kinds.join(', ')} (pass --format to read them)`;
}

/** `.md`, `.csv.gz` (a compressed file's own extension says little), or `no extension`. */
function extensionOf(file: string): string {
  const name = path.basename(file).toLowerCase();
  const base = name.replace(COMPRESSED, '');
  const ext = path.extname(base);
  return ext === '' && base === name ? 'no extension' : `${ext}${name.slice(base.length)}`;
}

async function resolveSpec(spec: string, forced: InputFormat | undefined): Promise<{ files: InputFile[]; skipped: SkippedFile[]; named: boolean }> {
  const abs = path.resolve(spec);
  const st = await statOrUndefined(abs, spec);
  // A path that exists wins over glob syntax, so a file literally named `a{1,2}.jsonl` stays reachable.
  if (st?.isFile()) {
    const format = forced ?? detectFormat(abs);
    if (!format) throw usageError(`cannot tell the format of "${spec}" from its extension`, `use ${INPUT_EXTENSIONS.join(', ')}, or pass --format`);
    return { files: [{ abs, rel: '', format, size: st.size }], skipped: [], named: true };
  }
  if (st?.isDirectory()) {
    const r = await collect(walk(abs, []), forced);
    if (r.files.length === 0) {
      throw usageError(`directory "${spec}" holds no input files`, forced ? undefined : `looked for ${INPUT_EXTENSIONS.join(', ')}; pass --format to take every file`);
    }
    return { ...r, named: false };
  }
  if (st) throw usageError(`"${spec}" is neither a file nor a directory`);
  if (!hasGlob(spec)) throw usageError(`input "${spec}" does not exist`);

  const matched: string[] = [];
  for (const pattern of expandBraces(abs)) matched.push(...(await globOne(pattern)));
  const r = await collect(matched, forced);
  if (r.files.length === 0) {
    throw usageError(
      `"${spec}" matches no input files`,
      matched.length > 0 ? `it matched ${matched.length} file(s) with no known extension; pass --format` : undefined,
    );
  }
  return { ...r, named: false };
}

/**
 * Globs and directories leave out files of unknown format (a stray README.md is not an error), and
 * say which; explicit paths do not. A glob that matches a directory takes the directory's files.
 */
async function collect(paths: Iterable<string> | AsyncIterable<string>, forced: InputFormat | undefined, into: { files: InputFile[]; skipped: SkippedFile[] } = { files: [], skipped: [] }) {
  for await (const p of paths) {
    const st = await statOrUndefined(p, p);
    if (st?.isDirectory()) {
      await collect(walk(p, []), forced, into);
      continue;
    }
    if (!st?.isFile()) continue;
    const format = forced ?? detectFormat(p);
    if (format) into.files.push({ abs: p, rel: '', format, size: st.size });
    else into.skipped.push({ file: p, size: st.size, reason: 'noInputExtension' });
  }
  return into;
}

async function statOrUndefined(abs: string, spec: string) {
  try {
    return await fs.stat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new InputError('unreadableFile', `cannot read "${spec}": ${osReason(e)}`, { file: spec });
  }
}

/** Every regular file under `dir`, skipping hidden entries (`.meap` work dirs, `.git`, editor droppings). */
async function* walk(dir: string, seen: string[]): AsyncGenerator<string> {
  // Symlinked directories are followed, but a link back up the tree must not loop forever.
  const real = await fs.realpath(dir);
  if (seen.includes(real)) return;
  const entries = await readDir(dir);
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p, [...seen, real]);
    else if (e.isFile()) yield p;
    else if (e.isSymbolicLink()) {
      const st = await fs.stat(p).catch(() => undefined);
      if (st?.isDirectory()) yield* walk(p, [...seen, real]);
      else if (st?.isFile()) yield p;
    }
  }
}

async function readDir(dir: string) {
  try {
    return await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new InputError('unreadableFile', `cannot list directory "${dir}": ${osReason(e)}`, { file: dir });
  }
}

function commonDir(files: string[]): string {
  let parts = path.dirname(files[0]).split(path.sep);
  for (const f of files.slice(1)) {
    const other = path.dirname(f).split(path.sep);
    let i = 0;
    while (i < parts.length && i < other.length && parts[i] === other[i]) i++;
    parts = parts.slice(0, i);
  }
  return parts.join(path.sep) || path.sep;
}

async function globOne(absPattern: string): Promise<string[]> {
  const segs = absPattern.split(path.sep);
  let i = 0;
  while (i < segs.length && !hasGlob(segs[i]) && segs[i] !== '**') i++;
  const base = segs.slice(0, i).join(path.sep) || path.sep;
  const rest = segs.slice(i);
  const out: string[] = [];
  const st = await fs.stat(base).catch(() => undefined);
  if (st?.isDirectory()) await matchSegments(base, rest, out);
  return out;
}

async function matchSegments(dir: string, segs: string[], out: string[]): Promise<void> {
  const [seg, ...rest] = segs;
  if (seg === '**') {
    if (rest.length === 0) {
      for await (const f of walk(dir, [])) out.push(f);
      return;
    }
    await matchSegments(dir, rest, out);
    // Symlinked directories are not descended here (as bash's globstar): a link cycle would never end.
    for (const e of await readDir(dir)) {
      if (e.name.startsWith('.') || !e.isDirectory()) continue;
      await matchSegments(path.join(dir, e.name), segs, out);
    }
    return;
  }
  const re = segmentRegExp(seg);
  // As in shells, a wildcard does not match a leading dot unless the pattern spells it.
  const hiddenOk = seg.startsWith('.');
  for (const e of await readDir(dir)) {
    if (!re.test(e.name) || (e.name.startsWith('.') && !hiddenOk)) continue;
    const p = path.join(dir, e.name);
    if (rest.length === 0) out.push(p);
    else if (await isDir(e, p)) await matchSegments(p, rest, out);
  }
}

async function isDir(e: { isDirectory(): boolean; isSymbolicLink(): boolean }, p: string): Promise<boolean> {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
