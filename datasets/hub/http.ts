/**
 * HTTP to the hub: one context per command (endpoint, token, connection pool), retries with
 * back-off, status codes turned into one-line errors, and redirects followed by hand so that the
 * token never leaves the hub's own origin.
 *
 * Tested through the downloads that use it, in test/datasets/hub/download.test.ts: retries after
 * drops, 503 and 429 (with Retry-After), giving up after maxRetries, 401 on a gated repository,
 * and the token kept off the CDN that resolve redirects to.
 */
import type { Agent, Dispatcher } from 'undici';
import { cacheRoot } from '../../core/cache.ts';
import { MeapError } from '../../core/errors.ts';
import { repoLabel, type HubRef } from './uri.ts';

export interface HubOptions {
  endpoint?: string;
  token?: string;
  cacheDir?: string;
  concurrency?: number;
  maxRetries?: number;
  /** First back-off step; tests shrink it so retries cost milliseconds. */
  retryBaseMs?: number;
  progress?: DownloadProgress;
  log?: (line: string) => void;
}

/** What a download reports as it goes; the CLI draws it. */
export interface DownloadProgress {
  start(totalBytes: number, files: number): void;
  update(bytes: number, filesDone: number): void;
  stop(): void;
}

export interface HubContext {
  endpoint: string;
  origin: string;
  token?: string;
  cacheDir: string;
  concurrency: number;
  maxRetries: number;
  retryBaseMs: number;
  progress?: DownloadProgress;
  log: (line: string) => void;
  agent: Agent;
  request: typeof import('undici').request;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_HOPS = 10;

// undici (~80 ms to load) only for commands that reach the hub.
function context(o: HubOptions, { Agent, request }: typeof import('undici')): HubContext {
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
    cacheDir: o.cacheDir ?? cacheRoot(),
    concurrency,
    maxRetries: Math.max(0, Math.floor(o.maxRetries ?? 5)),
    retryBaseMs: Math.max(0, o.retryBaseMs ?? 500),
    progress: o.progress,
    log: o.log ?? (() => {}),
    agent: new Agent({ connections: concurrency + 1, headersTimeout: 60_000, bodyTimeout: 120_000 }),
    request,
  };
}

export async function withHubContext<T>(o: HubOptions, fn: (ctx: HubContext) => Promise<T>): Promise<T> {
  const ctx = context(o, await import('undici'));
  try {
    return await fn(ctx);
  } finally {
    await ctx.agent.close().catch(() => {});
  }
}

/** Belt and braces: whatever a server or library puts into a message, the token never leaves. */
export function redact(ctx: HubContext, s: string): string {
  return ctx.token ? s.split(ctx.token).join('***') : s;
}

/** A failure worth another attempt; `afterMs` is the server's Retry-After when it gave one. */
export class Retryable extends Error {
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
  // A name that does not resolve is as likely a passing DNS or network failure as a wrong HF_ENDPOINT.
  'ENOTFOUND',
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

export async function withRetries<T>(ctx: HubContext, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      // A file the OS refused to write (a cache or --out without permission) is the caller's to name.
      if (e instanceof MeapError || typeof (e as NodeJS.ErrnoException)?.path === 'string') throw e;
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

export function header(h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Status codes that are not success become MeapErrors or Retryables; the body is drained first. */
export async function failFor(ctx: HubContext, res: Dispatcher.ResponseData, ref: HubRef, what: string): Promise<never> {
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
export async function get(
  ctx: HubContext,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: Dispatcher.ResponseData; url: URL; commit?: string }> {
  let cur = new URL(url);
  let commit: string | undefined;
  for (let hop = 0; hop <= MAX_HOPS; hop++) {
    const h: Record<string, string> = { 'user-agent': 'meap', ...headers };
    if (ctx.token && cur.origin === ctx.origin) h.authorization = `Bearer ${ctx.token}`;
    const res = await ctx.request(cur, { method: 'GET', headers: h, dispatcher: ctx.agent });
    commit ??= header(res.headers, 'x-repo-commit');
    if (!REDIRECTS.has(res.statusCode)) return { res, url: cur, commit };
    const loc = header(res.headers, 'location');
    await res.body.dump().catch(() => {});
    if (!loc) throw new Retryable(`HTTP ${res.statusCode} without a Location`);
    cur = new URL(loc, cur);
  }
  throw new MeapError('input', `too many redirects fetching ${new URL(url).pathname}`);
}

export async function getJson(ctx: HubContext, ref: HubRef, url: string, what: string): Promise<{ json: unknown; next?: string }> {
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
