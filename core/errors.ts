import { readFile } from 'node:fs/promises';
import type { z } from 'zod';

/**
 * One error type per kind. The CLI prints `message` as one line and exits with `exitCode`;
 * anything that is not a MeapError is an internal bug and only shows a stack with --debug.
 */
export type ErrorKind = 'input' | 'config' | 'tokenizer' | 'integrity' | 'usage';

export interface Location {
  /** Path as the user knows it (relative to the inputs' common directory where there is one). */
  file?: string;
  /** 1-based line number in a line-oriented file. */
  line?: number;
  /** 0-based record index in a JSON array or Parquet file. */
  record?: number;
  /** 0-based byte offset in a binary file (a shard): where its bytes stop being what meap wrote. */
  byte?: number;
}

export class MeapError extends Error {
  readonly kind: ErrorKind;
  readonly where: Location;
  readonly hint?: string;

  constructor(kind: ErrorKind, what: string, where: Location = {}, hint?: string) {
    super(formatMessage(what, where, hint));
    this.name = 'MeapError';
    this.kind = kind;
    this.where = where;
    this.hint = hint;
  }

  get exitCode(): number {
    return this.kind === 'integrity' ? 1 : 2;
  }
}

export class InputError extends MeapError {
  /** Counted under this reason when the user asked for --on-error skip. */
  readonly reason: string;
  constructor(reason: string, what: string, where: Location = {}, hint?: string) {
    super('input', what, where, hint);
    this.reason = reason;
  }
}

/**
 * Bytes that are not what meap wrote, such as a damaged shard, named by file and, where known, byte.
 * `what` is the problem alone, for reports that name the file themselves (`meap verify`).
 */
export class IntegrityError extends MeapError {
  readonly what: string;
  constructor(what: string, where: Location = {}, hint?: string) {
    super('integrity', what, where, hint);
    this.what = what;
  }
}

/** An error as plain data, to cross a worker thread's boundary. */
export interface PlainError {
  message: string;
  stack?: string;
  /** A system error's code (ENOSPC, ...), which decides how it is reported, and the path and call it failed on. */
  code?: string;
  path?: string;
  syscall?: string;
  meap?: { kind: ErrorKind; where: Location; hint?: string; reason?: string; what?: string };
}

export function toPlainError(e: unknown): PlainError {
  if (e instanceof MeapError) {
    return {
      message: e.message,
      meap: { kind: e.kind, where: e.where, hint: e.hint, reason: e instanceof InputError ? e.reason : undefined, what: e instanceof IntegrityError ? e.what : undefined },
    };
  }
  if (!(e instanceof Error)) return { message: String(e) };
  const { code, path, syscall } = e as NodeJS.ErrnoException;
  return { message: e.message, stack: e.stack, ...(code === undefined ? {} : { code }), ...(path === undefined ? {} : { path }), ...(syscall === undefined ? {} : { syscall }) };
}

/** The error `toPlainError` was given back: the same class, one-line message and exit code. */
export function fromPlainError(p: PlainError): Error {
  let e: Error;
  if (p.meap === undefined) e = new Error(p.message);
  else if (p.meap.reason !== undefined) e = new InputError(p.meap.reason, '', p.meap.where, p.meap.hint);
  else if (p.meap.what !== undefined) e = new IntegrityError(p.meap.what, p.meap.where, p.meap.hint);
  else e = new MeapError(p.meap.kind, '', p.meap.where, p.meap.hint);
  e.message = p.message;
  if (p.stack !== undefined) e.stack = p.stack;
  const sys = e as NodeJS.ErrnoException;
  if (p.code !== undefined) sys.code = p.code;
  if (p.path !== undefined) sys.path = p.path;
  if (p.syscall !== undefined) sys.syscall = p.syscall;
  return e;
}

/** A system error in words, with its code ("permission denied (EACCES)"); the message of any other error. */
export function osReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOTDIR: 'a part of the path is a file, not a directory',
    EISDIR: 'is a directory',
    EIO: 'I/O error',
    EMFILE: 'too many open files',
  };
  if (err && typeof err.code === 'string') return `${words[err.code] ?? err.message} (${err.code})`;
  return err instanceof Error ? err.message : String(e);
}

/**
 * System errors on a path that are the user's to fix, not meap's bugs, and what to do by default: a
 * directory they may not write (service users, containers), a read-only file system, a file where a
 * directory should be.
 */
const REFUSED: Record<string, string> = {
  EACCES: 'check its permissions, or choose a path you can write',
  EPERM: 'check its permissions, or choose a path you can write',
  EROFS: 'choose a path on a writable file system',
  ENOTDIR: 'choose another path',
};
const DOING: Record<string, string> = { mkdir: 'create the directory', scandir: 'read the directory', open: 'open', rename: 'rename', unlink: 'remove', rmdir: 'remove', copyfile: 'copy' };

/** Such an error as one line naming the path, what failed and why (`hint`: what to do, where the caller knows better); null for any other error. */
export function pathRefusal(e: unknown, hint?: string): MeapError | null {
  const { code, path, syscall } = (e ?? {}) as NodeJS.ErrnoException;
  if (code === undefined || !(code in REFUSED) || path === undefined) return null;
  const doing = syscall === undefined ? '' : `cannot ${DOING[syscall] ?? syscall}: `;
  return new MeapError('usage', `${doing}${osReason(e)}`, { file: path }, hint ?? REFUSED[code]);
}

export const configError = (what: string, hint?: string) => new MeapError('config', what, {}, hint);
export const usageError = (what: string, hint?: string) => new MeapError('usage', what, {}, hint);
export const tokenizerError = (what: string, file?: string, hint?: string) =>
  new MeapError('tokenizer', what, file === undefined ? {} : { file }, hint);

export function formatLocation(where: Location): string {
  let s = where.file ?? '';
  if (where.line !== undefined) s += `:${where.line}`;
  else if (where.record !== undefined) s += ` (record ${where.record})`;
  else if (where.byte !== undefined) s += ` (byte ${where.byte})`;
  return s;
}

function formatMessage(what: string, where: Location, hint?: string): string {
  const loc = formatLocation(where);
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');
  return `${loc ? `${loc}: ` : ''}${oneLine(what)}${hint ? ` (${oneLine(hint)})` : ''}`;
}

/** Reads a file the user named; a failure becomes the caller's one-line error ("not found" or the OS code). */
export async function readNamedFile(file: string, fail: (reason: string) => MeapError): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw fail(unreadable(e));
  }
}

const unreadable = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'not found' : `cannot be read (${code ?? String(e)})`;
};

/**
 * A file holding one JSON object (a tokenizer's or a model folder's config), every failure the
 * caller's one line: `fail` gets 'not found', 'cannot be read (EACCES)', 'invalid JSON (…)' or 'not a
 * JSON object'. With `optional`, a missing file is null.
 */
export async function readJsonObject(file: string, fail: (reason: string) => MeapError): Promise<Record<string, unknown>>;
export async function readJsonObject(file: string, fail: (reason: string) => MeapError, o: { optional: true }): Promise<Record<string, unknown> | null>;
export async function readJsonObject(file: string, fail: (reason: string) => MeapError, o?: { optional: true }): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (o?.optional && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fail(unreadable(e));
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fail(`invalid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail('not a JSON object');
  return v as Record<string, unknown>;
}

/** Where a value broke its schema ("seqLen", "markers.1"; "" at the root) and why: the first issue only, one line. */
export function firstIssue(error: z.ZodError): { at: string; message: string } {
  const issue = error.issues[0];
  return { at: issue.path.join('.'), message: issue.message };
}

/** `schema.parse`, with a failure turned into the caller's one-line error instead of zod's multi-line dump. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, fail: (at: string, message: string) => Error): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const { at, message } = firstIssue(parsed.error);
  throw fail(at, message);
}
