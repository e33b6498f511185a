/** The hub's API: a revision resolved to its commit, and the files of a repository at a commit. */
import { MeapError } from '../../core/errors.ts';
import { getJson, withHubContext, type HubContext, type HubOptions } from './http.ts';
import { apiKind, repoLabel, type HubRef } from './uri.ts';

export interface HubFile {
  path: string;
  size: number;
  /** Git's blob id, for files not stored in LFS. */
  oid?: string;
  lfsSha256?: string;
}

export const SHA_RE = /^[0-9a-f]{40}$/;

export async function resolveRevision(ref: HubRef, o: HubOptions = {}): Promise<string> {
  return withHubContext(o, (ctx) => resolveIn(ctx, ref));
}

export async function resolveIn(ctx: HubContext, ref: HubRef): Promise<string> {
  if (SHA_RE.test(ref.revision)) return ref.revision;
  const url = `${ctx.endpoint}/api/${apiKind(ref)}/${ref.repoId}/revision/${encodeURIComponent(ref.revision)}`;
  const what = `${repoLabel(ref)}@${ref.revision}`;
  const { json } = await getJson(ctx, ref, url, what);
  const sha = (json as { sha?: unknown })?.sha;
  if (typeof sha !== 'string' || !SHA_RE.test(sha)) throw new MeapError('input', `${what}: the hub did not return a commit sha`);
  return sha;
}

export async function listFiles(ref: HubRef, sha: string, o: HubOptions = {}): Promise<HubFile[]> {
  return withHubContext(o, (ctx) => listIn(ctx, ref, sha));
}

export async function listIn(ctx: HubContext, ref: HubRef, sha: string): Promise<HubFile[]> {
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
