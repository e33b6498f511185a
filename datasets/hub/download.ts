/**
 * Hub files onto disk: into the cache (keyed by commit) or a mirror folder, resumable across
 * crashes with Range + If-Range, verified against the listing's sha256 or git blob id before they
 * take their final name.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cacheWriteError } from '../../core/cache.ts';
import { MeapError, pathRefusal, usageError } from '../../core/errors.ts';
import { pathMatcher } from '../../core/glob.ts';
import { makeDir } from '../../core/make-dir.ts';
import { sha256File } from '../../core/hash.ts';
import { listIn, resolveIn, SHA_RE, type HubFile } from './api.ts';
import { failFor, get, header, Retryable, withHubContext, withRetries, type HubContext, type HubOptions } from './http.ts';
import { apiKind, encodePath, fileUri, parseHfUri, repoLabel, type HubRef } from './uri.ts';
import { TOKENIZER_FILE, TOKENIZER_FILES } from '../../schemas/hf-files.ts';

export interface DownloadedFile {
  path: string;
  local: string;
  uri: string;
}


export async function download(
  ref: HubRef,
  o: HubOptions & { include?: string[]; out?: string } = {},
): Promise<{ sha: string; files: DownloadedFile[] }> {
  return withHubContext(o, async (ctx) => {
    const sha = await resolveIn(ctx, ref);
    const all = await listIn(ctx, ref, sha);
    const byGlob = ref.glob ? pathMatcher(ref.glob) : () => true;
    const includes = (o.include ?? []).map(pathMatcher);
    const chosen = all.filter((f) => byGlob(f.path) && (includes.length === 0 || includes.some((m) => m(f.path))));
    if (chosen.length === 0) {
      const pats = [ref.glob, ...(o.include ?? [])].filter(Boolean).join(', ');
      throw new MeapError('input', `${repoLabel(ref)}@${sha}: no file matches ${pats || 'anything'}`, {}, `the repository holds ${all.length} files`);
    }
    const files = await fetchAll(ctx, ref, sha, chosen, o.out ?? null);
    return { sha, files };
  });
}

export async function fetchTokenizer(uri: string, o: HubOptions = {}): Promise<string> {
  const ref = parseHfUri(uri);
  // A path in the URI names the folder holding tokenizer.json, or the file itself.
  const dir = (ref.glob ?? '').replace(/\/?tokenizer\.json$/, '').replace(/\/+$/, '');
  if (/[*?{]/.test(dir)) throw usageError(`tokenizer URI "${uri}" may not contain wildcards`);
  return withHubContext(o, async (ctx) => {
    const sha = await resolveIn(ctx, ref);
    const all = await listIn(ctx, ref, sha);
    const want = new Set(TOKENIZER_FILES.map((n) => (dir ? `${dir}/${n}` : n)));
    const chosen = all.filter((f) => want.has(f.path));
    const main = dir ? `${dir}/${TOKENIZER_FILE}` : TOKENIZER_FILE;
    if (!chosen.some((f) => f.path === main)) {
      throw new MeapError('input', `${repoLabel(ref)}@${sha} has no ${main}`, {}, 'only tokenizers saved in the tokenizers (fast) format are supported');
    }
    const files = await fetchAll(ctx, { ...ref, glob: undefined }, sha, chosen, null);
    return files.find((f) => f.path === main)!.local;
  });
}

function localPath(root: string, p: string, ref: HubRef): string {
  const dest = path.resolve(root, ...p.split('/'));
  // Repo paths come from the server; one with .. must not write outside the mirror.
  if (!dest.startsWith(path.resolve(root) + path.sep)) {
    throw new MeapError('input', `${repoLabel(ref)}: the hub listed an unsafe path "${p}"`);
  }
  return dest;
}

async function fetchAll(ctx: HubContext, ref: HubRef, sha: string, files: HubFile[], out: string | null): Promise<DownloadedFile[]> {
  const [org, name] = ref.repoId.split('/');
  const root = out ? path.resolve(out) : path.join(ctx.cacheDir, 'hub', apiKind(ref), `${org}--${name}`, sha);
  const jobs = files.map((f) => ({ f, local: localPath(root, f.path, ref), uri: fileUri(ref, sha, f.path) }));
  const total = files.reduce((s, f) => s + f.size, 0);
  const bar = ctx.progress;
  let done = 0;
  let filesDone = 0;
  const progress = (delta: number) => {
    done += delta;
    bar?.update(done, filesDone);
  };
  bar?.start(total, files.length);
  ctx.log(`${repoLabel(ref)}@${sha}: ${files.length} files, ${total} bytes`);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < jobs.length && failed === undefined) {
      const job = jobs[next++];
      try {
        await fetchOne(ctx, ref, sha, job.f, job.local, job.uri, out === null, progress);
        filesDone++;
        progress(0);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(ctx.concurrency, jobs.length) }, worker));
  } finally {
    bar?.stop();
  }
  if (failed !== undefined) throw out === null ? cacheWriteError(failed) : (pathRefusal(failed, 'choose a writable --out') ?? failed);
  return jobs.map((j) => ({ path: j.f.path, local: j.local, uri: j.uri }));
}

async function sizeOf(p: string): Promise<number | undefined> {
  return (await fs.stat(p).catch(() => undefined))?.size;
}

/** Git's blob id, which the tree API gives as `oid` for files not stored in LFS. */
async function gitBlobSha1(file: string, size: number): Promise<string> {
  const hash = createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Why `file` is not the listed content, or undefined when it is. */
async function mismatch(file: string, f: HubFile): Promise<string | undefined> {
  const size = await sizeOf(file);
  if (size !== f.size) return `size ${size} bytes, expected ${f.size}`;
  if (f.lfsSha256) {
    const got = await sha256File(file);
    return got === f.lfsSha256 ? undefined : `sha256 ${got}, expected ${f.lfsSha256}`;
  }
  if (f.oid && SHA_RE.test(f.oid)) {
    const got = await gitBlobSha1(file, size);
    return got === f.oid ? undefined : `git blob id ${got}, expected ${f.oid}`;
  }
  return undefined;
}

async function fetchOne(
  ctx: HubContext,
  ref: HubRef,
  sha: string,
  f: HubFile,
  local: string,
  uri: string,
  inCache: boolean,
  progress: (delta: number) => void,
): Promise<void> {
  // The cache only ever renames verified bytes into place and is keyed by commit, so a matching size
  // is enough there; a user's --out folder may hold anything, so it is checked in full.
  const existing = await sizeOf(local);
  if (existing !== undefined && (inCache ? existing === f.size : (await mismatch(local, f)) === undefined)) {
    progress(f.size);
    return;
  }
  await makeDir(path.dirname(local));
  const part = `${local}.part`;
  const etagFile = `${part}.etag`;
  const url = `${ctx.endpoint}/${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}/resolve/${sha}/${encodePath(f.path)}`;
  let counted = 0;
  const count = (n: number) => {
    counted += n;
    progress(n);
  };

  await withRetries(ctx, uri, async () => {
    let have = (await sizeOf(part)) ?? 0;
    const etag = await fs.readFile(etagFile, 'utf8').catch(() => '');
    if (have > f.size || (have > 0 && !etag)) {
      // Bytes of unknown origin cannot be resumed safely.
      await fs.rm(part, { force: true });
      have = 0;
    }
    count(have - counted);
    if (have === f.size && f.size > 0) return; // A crash after the last byte: only verification is left.
    const headers: Record<string, string> = {};
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      headers['if-range'] = etag;
    }
    const { res, commit } = await get(ctx, url, headers);
    if (commit && commit !== sha) {
      await res.body.dump().catch(() => {});
      throw new MeapError('input', `${uri}: the hub served commit ${commit} for ${sha}`);
    }
    let flags: 'a' | 'w';
    if (res.statusCode === 206 && have > 0) {
      const start = /^bytes\s+(\d+)-/.exec(header(res.headers, 'content-range') ?? '')?.[1];
      if (Number(start) !== have) {
        await res.body.dump().catch(() => {});
        await fs.rm(part, { force: true });
        throw new Retryable(`the server resumed at byte ${start ?? '?'} instead of ${have}`);
      }
      flags = 'a';
    } else if (res.statusCode === 200) {
      // A 200 to a range request is the whole file again (range ignored or ETag changed): start over.
      flags = 'w';
      count(-counted);
      const newTag = header(res.headers, 'etag');
      // If-Range needs a strong validator; without one a later resume could splice two versions.
      if (newTag && !newTag.startsWith('W/')) await fs.writeFile(etagFile, newTag);
      else await fs.rm(etagFile, { force: true });
    } else if (res.statusCode === 416) {
      await res.body.dump().catch(() => {});
      await fs.rm(part, { force: true });
      throw new Retryable('HTTP 416 for a resumed range');
    } else {
      await failFor(ctx, res, ref, uri);
      return;
    }
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        count(chunk.length);
        cb(null, chunk);
      },
    });
    await pipeline(res.body, counter, createWriteStream(part, { flags }));
  });

  const why = await mismatch(part, f);
  if (why !== undefined) {
    await fs.rm(part, { force: true });
    await fs.rm(etagFile, { force: true });
    throw new MeapError(
      'input',
      `downloaded ${f.path} does not match the hub's listing (${why}); the partial file was deleted`,
      { file: uri },
      'run again; if it persists the repository or a proxy is serving corrupt data',
    );
  }
  await fs.rename(part, local);
  await fs.rm(etagFile, { force: true });
}
