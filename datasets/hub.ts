/**
 * Hugging Face hub downloads: `hf://` URIs are resolved to a commit sha first, so that everything
 * downstream (cache keys, manifest URIs) names immutable bytes rather than a moving branch.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { Agent, request, type Dispatcher } from 'undici';
import { MeapError, usageError } from '../pipeline/errors.ts';
import { sha256File } from '../pipeline/shards.ts';
import { expandBraces } from './inputs.ts';

export interface HubOptions {
  endpoint?: string;
  token?: string;
  cacheDir?: string;
  concurrency?: number;
  maxRetries?: number;
  /** First back-off step; tests shrink it so retries cost milliseconds. */
  retryBaseMs?: number;
  progress?: boolean;
  log?: (line: string) => void;
}

export interface HubRef {
  repoType: 'dataset' | 'model';
  repoId: string;
  revision: string;
  glob?: string;
}

export interface HubFile {
  path: string;
  size: number;
  oid?: string;
  lfsSha256?: string;
}

export interface DownloadedFile {
  path: string;
  local: string;
  uri: string;
}

interface Ctx {
  endpoint: string;
  origin: string;
  token?: string;
  cacheDir: string;
  concurrency: number;
  maxRetries: number;
  retryBaseMs: number;
  progress: boolean;
  log: (line: string) => void;
  agent: Agent;
}

const SHA_RE = /^[0-9a-f]{40}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 10;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

// ---------------------------------------------------------------------------------------------
// URIs

/** hf://datasets/ORG/NAME[@REV][/GLOB] or hf://[models/]ORG/NAME[@REV][/GLOB]; REV may be %-encoded (refs%2Fpr%2F1). */
export function parseHfUri(uri: string): HubRef {
  const bad = (why: string) =>
    usageError(
      `malformed hub URI "${uri}": ${why}`,
      'expected hf://datasets/ORG/NAME[@REVISION]/GLOB or hf://ORG/MODEL[@REVISION]',
    );
  if (!uri.startsWith('hf://')) throw bad('it must start with hf://');
  let rest = uri.slice('hf://'.length);
  let repoType: HubRef['repoType'] = 'model';
  if (rest.startsWith('datasets/')) {
    repoType = 'dataset';
    rest = rest.slice('datasets/'.length);
  } else if (rest.startsWith('models/')) {
    rest = rest.slice('models/'.length);
  } else if (rest.startsWith('spaces/')) {
    throw bad('spaces are not supported');
  }
  const segs = rest.split('/');
  if (segs.length < 2) throw bad('the repository must be ORG/NAME');
  const org = segs[0];
  let name = segs[1];
  let revision = 'main';
  const at = name.indexOf('@');
  if (at !== -1) {
    try {
      revision = decodeURIComponent(name.slice(at + 1));
    } catch {
      throw bad('the revision is not valid percent-encoding');
    }
    name = name.slice(0, at);
    if (!revision) throw bad('empty revision after @');
  }
  if (!NAME_RE.test(org) || !NAME_RE.test(name)) throw bad(`"${org}/${name}" is not a repository id`);
  if (revision.split('/').some((s) => s === '..' || s === '.' || s === '')) throw bad('the revision is not a valid ref');
  const glob = segs.slice(2).join('/').replace(/\/+$/, '');
  if (glob && glob.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw bad('the path may not contain empty, . or .. segments');
  }
  return { repoType, repoId: `${org}/${name}`, revision, ...(glob ? { glob } : {}) };
}

function fileUri(ref: HubRef, sha: string, p: string): string {
  return `hf://${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}@${sha}/${p}`;
}

function repoLabel(ref: HubRef): string {
  return `hf://${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}`;
}

const apiKind = (ref: HubRef) => (ref.repoType === 'dataset' ? 'datasets' : 'models');
const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

// ---------------------------------------------------------------------------------------------
// Globs: same dialect as local inputs (`*`, `?`, `**`, `{a,b}`), matched against whole repo paths.

function globRegExp(glob: string): RegExp {
  const alts = expandBraces(glob).map((pattern) => {
    const segs = pattern.split('/').filter((s) => s !== '');
    let re = '';
    segs.forEach((seg, i) => {
      const last = i === segs.length - 1;
      if (seg === '**') {
        re += last ? '.*' : '(?:[^/]+/)*';
        return;
      }
      for (const c of seg) {
        if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
      }
      if (!last) re += '/';
    });
    // A plain path with no wildcard names a directory as well as a file, so `data` takes data/**.
    if (!/[*?]/.test(pattern)) re += '(?:/.*)?';
    return re;
  });
  return new RegExp(`^(?:${alts.join('|')})$`, 's');
}

/** As with local globs, wildcards skip dot-entries (.gitattributes) unless the pattern names one. */
function globMatcher(glob: string): (p: string) => boolean {
  const re = globRegExp(glob);
  const hiddenOk = glob.startsWith('.') || glob.includes('/.');
  return (p) => re.test(p) && (hiddenOk || !p.split('/').some((s) => s.startsWith('.')));
}

// ---------------------------------------------------------------------------------------------
// Options and errors

function context(o: HubOptions): Ctx {
  const endpoint = (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  let origin: string;
  try {
    origin = new URL(endpoint).origin;
  } catch {
    throw new MeapError('config', `hub endpoint "${endpoint}" is not a URL`, {}, 'check HF_ENDPOINT');
  }
  const token = o.token ?? process.env.HF_TOKEN;
  const concurrency = Math.max(1, Math.floor(o.concurrency ?? 4));
  return {
    endpoint,
    origin,
    token: token ? token : undefined,
    cacheDir: o.cacheDir ?? process.env.MEAP_CACHE ?? path.join(os.homedir(), '.cache', 'meap'),
    concurrency,
    maxRetries: Math.max(0, Math.floor(o.maxRetries ?? 5)),
    retryBaseMs: Math.max(0, o.retryBaseMs ?? 500),
    progress: o.progress ?? true,
    log: o.log ?? (() => {}),
    agent: new Agent({ connections: concurrency + 1, headersTimeout: 60_000, bodyTimeout: 120_000 }),
  };
}

async function withCtx<T>(o: HubOptions, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  const ctx = context(o);
  try {
    return await fn(ctx);
  } finally {
    await ctx.agent.close().catch(() => {});
  }
}

/** Belt and braces: whatever a server or library puts into a message, the token never leaves. */
function redact(ctx: Ctx, s: string): string {
  return ctx.token ? s.split(ctx.token).join('***') : s;
}

/** A failure worth another attempt; `afterMs` is the server's Retry-After when it gave one. */
class Retryable extends Error {
  constructor(
    message: string,
    readonly afterMs?: number,
  ) {
    super(message);
  }
}

const RETRY_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && (code.startsWith('UND_ERR') || RETRY_CODES.has(code))) return true;
  const cause = (e as { cause?: unknown })?.cause;
  return cause !== undefined && cause !== e && isNetworkError(cause);
}

function retryAfterMs(h: Dispatcher.ResponseData['headers']): number | undefined {
  const v = header(h, 'retry-after');
  if (v === undefined) return undefined;
  const secs = Number(v);
  // Capped so a misbehaving server cannot park a run for hours.
  if (Number.isFinite(secs) && secs >= 0) return Math.min(secs * 1000, 300_000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(Math.max(0, at - Date.now()), 300_000);
}

async function withRetries<T>(ctx: Ctx, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof MeapError) throw e;
      const retryable = e instanceof Retryable || isNetworkError(e);
      const msg = redact(ctx, (e as Error)?.message ?? String(e));
      if (!retryable) throw new MeapError('input', `${what}: ${msg}`);
      if (attempt >= ctx.maxRetries) {
        throw new MeapError(
          'input',
          `${what}: ${msg} (gave up after ${attempt + 1} attempts)`,
          {},
          'check the network or HF_ENDPOINT, then run again; finished files are kept',
        );
      }
      const backoff = Math.min(ctx.retryBaseMs * 2 ** attempt, 30_000);
      // Full jitter spreads out workers that all failed at the same moment (a CDN hiccup).
      const delay = e instanceof Retryable && e.afterMs !== undefined ? e.afterMs : Math.random() * backoff;
      ctx.log(`${what}: ${msg}; retrying in ${Math.round(delay)} ms (${attempt + 1}/${ctx.maxRetries})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Status codes that are not success become MeapErrors or Retryables; the body is drained first. */
async function failFor(ctx: Ctx, res: Dispatcher.ResponseData, ref: HubRef, what: string): Promise<never> {
  const status = res.statusCode;
  await res.body.dump().catch(() => {});
  if (status === 429 || status >= 500) throw new Retryable(`HTTP ${status}`, retryAfterMs(res.headers));
  if (status === 401 || status === 403) {
    const page = `${ctx.endpoint}/${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}`;
    throw new MeapError(
      'input',
      `${what}: access denied by the hub (HTTP ${status})`,
      {},
      ctx.token
        ? `the token in HF_TOKEN was refused; make sure it has read access and that you accepted the terms on ${page}`
        : `set HF_TOKEN to a Hugging Face access token, and accept the repository's terms on ${page} if it is gated`,
    );
  }
  if (status === 404) {
    throw new MeapError('input', `${what}: not found on the hub (HTTP 404)`, {}, `check the repository id and revision of ${repoLabel(ref)}`);
  }
  throw new MeapError('input', `${what}: unexpected HTTP ${status} from the hub`);
}

/**
 * GET with redirects followed by hand: undici would carry the Authorization header across hosts,
 * and a signed CDN URL must never see the user's token. `commit` is the X-Repo-Commit of any hop.
 */
async function get(
  ctx: Ctx,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: Dispatcher.ResponseData; url: URL; commit?: string }> {
  let cur = new URL(url);
  let commit: string | undefined;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const h: Record<string, string> = { 'user-agent': 'meap', ...headers };
    if (ctx.token && cur.origin === ctx.origin) h.authorization = `Bearer ${ctx.token}`;
    const res = await request(cur, { method: 'GET', headers: h, dispatcher: ctx.agent });
    commit ??= header(res.headers, 'x-repo-commit');
    if (!REDIRECTS.has(res.statusCode)) return { res, url: cur, commit };
    const loc = header(res.headers, 'location');
    await res.body.dump().catch(() => {});
    if (!loc) throw new Retryable(`HTTP ${res.statusCode} without a Location`);
    cur = new URL(loc, cur);
  }
  throw new MeapError('input', `too many redirects fetching ${new URL(url).pathname}`);
}

async function getJson(ctx: Ctx, ref: HubRef, url: string, what: string): Promise<{ json: unknown; next?: string }> {
  return withRetries(ctx, what, async () => {
    const { res } = await get(ctx, url, { accept: 'application/json' });
    if (res.statusCode !== 200) await failFor(ctx, res, ref, what);
    const json = await res.body.json();
    return { json, next: nextLink(header(res.headers, 'link')) };
  });
}

function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (m && /\brel\s*=\s*"?next"?/.test(m[2])) return m[1];
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// API

export async function resolveRevision(ref: HubRef, o: HubOptions = {}): Promise<string> {
  return withCtx(o, (ctx) => resolveIn(ctx, ref));
}

async function resolveIn(ctx: Ctx, ref: HubRef): Promise<string> {
  if (SHA_RE.test(ref.revision)) return ref.revision;
  const url = `${ctx.endpoint}/api/${apiKind(ref)}/${ref.repoId}/revision/${encodeURIComponent(ref.revision)}`;
  const what = `${repoLabel(ref)}@${ref.revision}`;
  const { json } = await getJson(ctx, ref, url, what);
  const sha = (json as { sha?: unknown })?.sha;
  if (typeof sha !== 'string' || !SHA_RE.test(sha)) throw new MeapError('input', `${what}: the hub did not return a commit sha`);
  return sha;
}

export async function listFiles(ref: HubRef, sha: string, o: HubOptions = {}): Promise<HubFile[]> {
  return withCtx(o, (ctx) => listIn(ctx, ref, sha));
}

async function listIn(ctx: Ctx, ref: HubRef, sha: string): Promise<HubFile[]> {
  const what = `${repoLabel(ref)}@${sha}`;
  let url: string | undefined = `${ctx.endpoint}/api/${apiKind(ref)}/${ref.repoId}/tree/${sha}?recursive=true`;
  const seen = new Set<string>();
  const out: HubFile[] = [];
  while (url) {
    // A server repeating a page link would otherwise loop forever.
    if (seen.has(url)) throw new MeapError('input', `${what}: the hub's file listing links back to a page it already sent`);
    seen.add(url);
    const { json, next } = await getJson(ctx, ref, url, `${what} (file listing)`);
    if (!Array.isArray(json)) throw new MeapError('input', `${what}: the hub's file listing is not a JSON array`);
    for (const e of json as Array<Record<string, unknown>>) {
      if (e?.type !== 'file' || typeof e.path !== 'string' || typeof e.size !== 'number') continue;
      const f: HubFile = { path: e.path, size: e.size };
      if (typeof e.oid === 'string') f.oid = e.oid;
      const lfs = e.lfs as { oid?: unknown } | undefined;
      if (lfs && typeof lfs.oid === 'string') f.lfsSha256 = lfs.oid.replace(/^sha256:/, '');
      out.push(f);
    }
    url = next ? new URL(next, url).href : undefined;
  }
  // Byte order, as local inputs are sorted, so a hub run and a local mirror order files the same way.
  const keys = new Map(out.map((f) => [f, Buffer.from(f.path, 'utf8')]));
  return out.sort((a, b) => Buffer.compare(keys.get(a)!, keys.get(b)!));
}

export async function download(
  ref: HubRef,
  o: HubOptions & { include?: string[]; out?: string } = {},
): Promise<{ sha: string; files: DownloadedFile[] }> {
  return withCtx(o, async (ctx) => {
    const sha = await resolveIn(ctx, ref);
    const all = await listIn(ctx, ref, sha);
    const byGlob = ref.glob ? globMatcher(ref.glob) : () => true;
    const includes = (o.include ?? []).map(globMatcher);
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
  return withCtx(o, async (ctx) => {
    const sha = await resolveIn(ctx, ref);
    const all = await listIn(ctx, ref, sha);
    const want = new Set(TOKENIZER_FILES.map((n) => (dir ? `${dir}/${n}` : n)));
    const chosen = all.filter((f) => want.has(f.path));
    const main = dir ? `${dir}/tokenizer.json` : 'tokenizer.json';
    if (!chosen.some((f) => f.path === main)) {
      throw new MeapError('input', `${repoLabel(ref)}@${sha} has no ${main}`, {}, 'only tokenizers saved in the tokenizers (fast) format are supported');
    }
    const files = await fetchAll(ctx, { ...ref, glob: undefined }, sha, chosen, null);
    return files.find((f) => f.path === main)!.local;
  });
}

// ---------------------------------------------------------------------------------------------
// Files

function localPath(root: string, p: string, ref: HubRef): string {
  const dest = path.resolve(root, ...p.split('/'));
  // Repo paths come from the server; one with .. must not write outside the mirror.
  if (!dest.startsWith(path.resolve(root) + path.sep)) {
    throw new MeapError('input', `${repoLabel(ref)}: the hub listed an unsafe path "${p}"`);
  }
  return dest;
}

async function fetchAll(ctx: Ctx, ref: HubRef, sha: string, files: HubFile[], out: string | null): Promise<DownloadedFile[]> {
  const [org, name] = ref.repoId.split('/');
  const root = out ? path.resolve(out) : path.join(ctx.cacheDir, 'hub', apiKind(ref), `${org}--${name}`, sha);
  const jobs = files.map((f) => ({ f, local: localPath(root, f.path, ref), uri: fileUri(ref, sha, f.path) }));
  const total = files.reduce((s, f) => s + f.size, 0);
  const bar =
    ctx.progress && process.stderr.isTTY
      ? new cliProgress.SingleBar(
          { format: 'hf {bar} {percentage}% | {value}/{total} bytes | {files}', stream: process.stderr, hideCursor: true },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  let done = 0;
  let filesDone = 0;
  const progress = (delta: number) => {
    done += delta;
    bar?.update(done, { files: `${filesDone}/${files.length} files` });
  };
  bar?.start(total, 0, { files: `0/${files.length} files` });
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
  if (failed !== undefined) throw failed;
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
  ctx: Ctx,
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
  await fs.mkdir(path.dirname(local), { recursive: true });
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
