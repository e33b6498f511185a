import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  configError,
  firstIssue,
  formatLocation,
  InputError,
  IntegrityError,
  MeapError,
  parseOrThrow,
  readJsonObject,
  readNamedFile,
  tokenizerError,
  usageError,
  type ErrorKind,
  fromPlainError,
  osReason,
  pathRefusal,
  toPlainError,
} from '../../core/errors.ts';
import { tempDir } from '../helpers/cli.ts';

describe('MeapError messages', () => {
  it('puts the location first: file:line, file (record N), or file (byte N)', () => {
    expect(new MeapError('input', 'bad JSON', { file: 'a.jsonl', line: 3 }).message).toBe('a.jsonl:3: bad JSON');
    expect(new MeapError('input', 'no text', { file: 'b.json', record: 0 }).message).toBe('b.json (record 0): no text');
    expect(new IntegrityError('not a meap shard: x', { file: 's.arrow', byte: 0 }).message).toBe('s.arrow (byte 0): not a meap shard: x');
    expect(new MeapError('input', 'bad', { file: 'c.jsonl' }).message).toBe('c.jsonl: bad');
    expect(new MeapError('config', 'plain').message).toBe('plain');
  });

  it('prefers the line when a location has both a line and a record', () => {
    expect(formatLocation({ file: 'x', line: 2, record: 5 })).toBe('x:2');
    expect(formatLocation({})).toBe('');
  });

  it('appends the hint in parentheses, and leaves an empty hint out', () => {
    expect(new MeapError('usage', 'missing --out', {}, 'pass --out DIR').message).toBe('missing --out (pass --out DIR)');
    expect(new MeapError('usage', 'missing --out', {}, '').message).toBe('missing --out');
    expect(new MeapError('input', 'bad', { file: 'f', line: 1 }, 'h').message).toBe('f:1: bad (h)');
  });

  it('folds multi-line text, and the whitespace around each break, into one line', () => {
    const e = new MeapError('tokenizer', 'first line\n   second line  \r\n\tthird', { file: 't.json' });
    expect(e.message).toBe('t.json: first line second line third');
    expect(e.message).not.toMatch(/[\r\n]/);
    expect(new MeapError('usage', 'bad', {}, 'try\n  this').message).toBe('bad (try this)');
  });

  it('keeps kind, location and hint for the CLI to read', () => {
    const e = new MeapError('input', 'x', { file: 'f', record: 2 }, 'h');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('MeapError');
    expect(e.kind).toBe('input');
    expect(e.where).toEqual({ file: 'f', record: 2 });
    expect(e.hint).toBe('h');
  });
});

describe('exit codes', () => {
  it('is 1 for integrity failures and 2 for every other kind', () => {
    const kinds: Array<[ErrorKind, number]> = [
      ['integrity', 1],
      ['input', 2],
      ['config', 2],
      ['tokenizer', 2],
      ['usage', 2],
    ];
    for (const [kind, code] of kinds) expect(new MeapError(kind, 'x').exitCode, kind).toBe(code);
  });

  it('the factories make their kind, and tokenizerError names the file only when given one', () => {
    expect(configError('c', 'h')).toMatchObject({ kind: 'config', hint: 'h', where: {}, message: 'c (h)' });
    expect(usageError('u')).toMatchObject({ kind: 'usage', where: {}, message: 'u' });
    expect(tokenizerError('no vocab', 'tok.json')).toMatchObject({ kind: 'tokenizer', where: { file: 'tok.json' }, message: 'tok.json: no vocab' });
    expect(tokenizerError('no vocab').where).toEqual({});
  });
});

describe('InputError', () => {
  it('is an input MeapError that carries the reason it is counted under', () => {
    const e = new InputError('badJson', 'unexpected end of JSON', { file: 'a.jsonl', line: 7 }, 'h');
    expect(e).toBeInstanceOf(MeapError);
    expect(e.kind).toBe('input');
    expect(e.exitCode).toBe(2);
    expect(e.reason).toBe('badJson');
    expect(e.message).toBe('a.jsonl:7: unexpected end of JSON (h)');
  });
});

describe('firstIssue and parseOrThrow', () => {
  const Schema = z.object({ seqLen: z.number().int().min(2), markers: z.array(z.string()).default([]) });

  const issueOf = (v: unknown) => {
    const r = Schema.safeParse(v);
    if (r.success) throw new Error('expected a failure');
    return firstIssue(r.error);
  };

  it('joins the path with dots, and gives "" at the root', () => {
    expect(issueOf({ seqLen: 1 }).at).toBe('seqLen');
    expect(issueOf({ seqLen: 4, markers: ['a', 3] }).at).toBe('markers.1');
    expect(issueOf('not an object').at).toBe('');
  });

  it('takes only the first issue', () => {
    const r = Schema.safeParse({ seqLen: 'x', markers: 'y' });
    expect(r.success).toBe(false);
    expect(r.error!.issues.length).toBeGreaterThan(1);
    expect(firstIssue(r.error!)).toEqual({ at: 'seqLen', message: r.error!.issues[0].message });
  });

  it('returns the parsed value, defaults applied', () => {
    expect(parseOrThrow(Schema, { seqLen: 8 }, () => new Error('unreachable'))).toEqual({ seqLen: 8, markers: [] });
  });

  it("throws the caller's error built from where and why", () => {
    const fail = (at: string, message: string) => configError(`invalid config at ${at || '(root)'}: ${message}`);
    let caught: unknown;
    try {
      parseOrThrow(Schema, { seqLen: 1 }, fail);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(MeapError);
    expect((caught as MeapError).message).toMatch(/^invalid config at seqLen: /);
    expect((caught as MeapError).message).not.toContain('\n');
    expect(() => parseOrThrow(Schema, null, fail)).toThrow(/^invalid config at \(root\): /);
  });
});

describe('toPlainError and fromPlainError', () => {
  it('bring an error back across a thread boundary with its class, message, reason, exit code and system code', () => {
    const roundTrip = (e: unknown) => fromPlainError(structuredClone(toPlainError(e)));
    const input = roundTrip(new InputError('invalidJson', 'line is not valid JSON', { file: 'a.jsonl', line: 2 }, 'fix it'));
    expect(input).toBeInstanceOf(InputError);
    expect(input.message).toBe('a.jsonl:2: line is not valid JSON (fix it)');
    expect((input as InputError).reason).toBe('invalidJson');
    expect((input as InputError).exitCode).toBe(2);
    const integrity = roundTrip(new MeapError('integrity', 'bad shard', { file: 's.arrow' }));
    expect(integrity).toBeInstanceOf(MeapError);
    expect(integrity).not.toBeInstanceOf(InputError);
    expect((integrity as MeapError).exitCode).toBe(1);
    const shard = roundTrip(new IntegrityError('not a meap shard: cut', { file: 's.arrow', byte: 12 }, 'run verify'));
    expect(shard).toBeInstanceOf(IntegrityError);
    expect([shard.message, (shard as IntegrityError).what, (shard as IntegrityError).where, (shard as IntegrityError).exitCode]).toEqual(['s.arrow (byte 12): not a meap shard: cut (run verify)', 'not a meap shard: cut', { file: 's.arrow', byte: 12 }, 1]);
    const full = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    const back = roundTrip(full) as NodeJS.ErrnoException;
    expect(back).not.toBeInstanceOf(MeapError);
    expect([back.message, back.code, back.stack]).toEqual(['no space left on device', 'ENOSPC', full.stack]);
    expect(roundTrip('text').message).toBe('text');
    // A refused path keeps what pathRefusal reads.
    const denied = roundTrip(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES', path: '/srv/out', syscall: 'mkdir' })) as NodeJS.ErrnoException;
    expect([denied.code, denied.path, denied.syscall]).toEqual(['EACCES', '/srv/out', 'mkdir']);
  });
});

describe('osReason', () => {
  it('words the common codes, and keeps the message of others beside their code', () => {
    expect(osReason(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe('permission denied (EACCES)');
    expect(osReason(Object.assign(new Error('cross-device link'), { code: 'EXDEV' }))).toBe('cross-device link (EXDEV)');
    expect(osReason(new Error('plain'))).toBe('plain');
    expect(osReason('a string')).toBe('a string');
  });
});

describe('pathRefusal', () => {
  it("makes a path the OS refuses the user's one line: the path, what failed, why, what to do", async () => {
    const file = path.join(tempDir('meap-errors-'), 'a-file');
    fs.writeFileSync(file, '');
    const e = await fs.promises.mkdir(path.join(file, 'sub')).catch((err: unknown) => err);
    const refused = pathRefusal(e);
    expect(refused?.kind).toBe('usage');
    expect(refused?.message).toBe(`${path.join(file, 'sub')}: cannot create the directory: a part of the path is a file, not a directory (ENOTDIR) (choose another path)`);
    const sys = (code: string, syscall?: string) => Object.assign(new Error(code), { code, path: '/p', syscall });
    expect(pathRefusal(sys('EACCES', 'open'), 'choose a writable --out')?.message).toBe('/p: cannot open: permission denied (EACCES) (choose a writable --out)');
    expect(pathRefusal(sys('EPERM', 'mkdir'))?.message).toMatch(/^\/p: cannot create the directory: operation not permitted \(EPERM\) \(check its permissions/);
    expect(pathRefusal(sys('EROFS', 'futime'))?.message).toBe('/p: cannot futime: read-only file system (EROFS) (choose a path on a writable file system)');
  });

  it('leaves other errors, and refusals without a path, to the caller', () => {
    expect(pathRefusal(Object.assign(new Error('x'), { code: 'ENOSPC', path: '/p' }))).toBeNull();
    expect(pathRefusal(Object.assign(new Error('x'), { code: 'EACCES' }))).toBeNull();
    expect(pathRefusal(new Error('plain'))).toBeNull();
    expect(pathRefusal(undefined)).toBeNull();
  });
});

describe('readNamedFile', () => {
  const dir = tempDir('meap-errors-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const reasons: string[] = [];
  const fail = (reason: string) => {
    reasons.push(reason);
    return configError(`template file ${reason}`);
  };

  it('returns the bytes of a readable file', async () => {
    const file = path.join(dir, 'ok.txt');
    fs.writeFileSync(file, 'hello');
    expect((await readNamedFile(file, fail)).toString('utf8')).toBe('hello');
  });

  it('gives the caller "not found" for a missing file', async () => {
    await expect(readNamedFile(path.join(dir, 'nope.json'), fail)).rejects.toThrow('template file not found');
    expect(reasons.at(-1)).toBe('not found');
  });

  it('gives the caller "cannot be read (CODE)" for a path that exists but cannot be read', async () => {
    // A directory is unreadable as a file for every user, root included, unlike a chmod 000 file.
    const e = await readNamedFile(dir, fail).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(MeapError);
    expect((e as MeapError).kind).toBe('config');
    expect(reasons.at(-1)).toMatch(/^cannot be read \(E[A-Z]+\)$/);
  });
});

describe('readJsonObject', () => {
  const dir = tempDir('meap-errors-');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fail = (reason: string) => configError(`config.json ${reason}`);
  const write = (name: string, text: string) => {
    fs.writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };

  it('returns the object a file holds', async () => {
    expect(await readJsonObject(write('ok.json', '{"a": [1]}'), fail)).toEqual({ a: [1] });
  });

  it('gives null for a missing optional file, "not found" for a missing required one', async () => {
    const missing = path.join(dir, 'nope.json');
    expect(await readJsonObject(missing, fail, { optional: true })).toBeNull();
    await expect(readJsonObject(missing, fail)).rejects.toThrow('config.json not found');
  });

  it('names invalid JSON, a JSON value that is not an object, and an unreadable path, even when optional', async () => {
    await expect(readJsonObject(write('bad.json', '{"a":'), fail, { optional: true })).rejects.toThrow(/^config\.json invalid JSON \(/);
    await expect(readJsonObject(write('list.json', '[1]'), fail)).rejects.toThrow('config.json not a JSON object');
    await expect(readJsonObject(dir, fail, { optional: true })).rejects.toThrow(/^config\.json cannot be read \(E[A-Z]+\)$/);
  });
});
