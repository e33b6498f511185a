/**
 * A Hugging Face hub on 127.0.0.1 for tests: revision and paginated tree APIs, `resolve` answering
 * with a 302 to a second server (the "CDN", another origin, as on the real hub), ETag and Range on
 * the CDN, and faults injected per file. Every request is recorded so tests can check what was asked.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** CDN: send the headers and `afterBytes` of the body, then destroy the socket. */
  | { kind: 'drop'; afterBytes: number; times?: number }
  /** Hub: answer `resolve` with this status (503, 429, ...) and an optional Retry-After. */
  | { kind: 'status'; status: number; retryAfter?: string; times?: number }
  /** CDN: serve the file with one byte flipped, so its sha256 differs from the listing. */
  | { kind: 'corrupt'; times?: number }
  /** CDN: answer every range request with the whole file (200). */
  | { kind: 'ignoreRange'; times?: number };

export interface FakeFile {
  path: string;
  data: Buffer;
  /** Listed with an `lfs.oid` (sha256) as large files are on the hub. */
  lfs?: boolean;
  faults?: Fault[];
}

export interface FakeRepo {
  type: 'dataset' | 'model';
  id: string;
  sha: string;
  /** Branch names answering the revision API besides the sha itself; default { main: sha }. */
  refs?: Record<string, string>;
  files: FakeFile[];
  /** Only this bearer token gets through (gated repo). */
  token?: string;
}

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  at: number;
}

export interface FakeHub {
  endpoint: string;
  cdnOrigin: string;
  hubRequests: Recorded[];
  cdnRequests: Recorded[];
  etagOf(repoId: string, path: string): string;
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitBlob = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

/** Takes the first fault of `kind` still armed for `file`, counting it down. */
function takeFault<K extends Fault['kind']>(file: FakeFile, kinds: K[]): Extract<Fault, { kind: K }> | undefined {
  const f = file.faults?.find((x) => (kinds as string[]).includes(x.kind) && (x.times ?? 1) > 0);
  if (!f) return undefined;
  f.times = (f.times ?? 1) - 1;
  return f as Extract<Fault, { kind: K }>;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startFakeHub(repos: FakeRepo[], opts: { pageSize?: number; maxRequests?: number } = {}): Promise<FakeHub> {
  const pageSize = opts.pageSize ?? 2;
  // A runaway client (a retry loop gone wrong) fails the test instead of hanging it.
  const maxRequests = opts.maxRequests ?? 500;
  const hubRequests: Recorded[] = [];
  const cdnRequests: Recorded[] = [];
  const byKey = new Map<string, { repo: FakeRepo; file: FakeFile }>();
  for (const repo of repos) for (const file of repo.files) byKey.set(`${repo.id}/${file.path}`, { repo, file });
  const etagOf = (repoId: string, p: string) => `"${sha256(byKey.get(`${repoId}/${p}`)!.file.data)}"`;

  const cdn = http.createServer((req, res) => {
    cdnRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: Date.now() });
    if (cdnRequests.length > maxRequests) return void res.writeHead(500).end('too many requests');
    const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/blob\//, ''));
    const hit = byKey.get(key);
    if (!hit) return void res.writeHead(404).end();
    const etag = etagOf(hit.repo.id, hit.file.path);
    let data = hit.file.data;
    if (takeFault(hit.file, ['corrupt'])) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const ignoreRange = range !== null && takeFault(hit.file, ['ignoreRange']) !== undefined;
    const ifRange = req.headers['if-range'];
    if (range && !ignoreRange && (ifRange === undefined || ifRange === etag)) start = Number(range[1]);
    if (start >= data.length && start > 0) return void res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
    const body = data.subarray(start);
    const headers: http.OutgoingHttpHeaders = { etag, 'content-length': body.length, 'accept-ranges': 'bytes' };
    if (start > 0) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    res.writeHead(start > 0 ? 206 : 200, headers);
    const drop = takeFault(hit.file, ['drop']);
    if (drop) {
      res.write(body.subarray(0, drop.afterBytes), () => setTimeout(() => req.socket.destroy(), 100));
      return;
    }
    res.end(body);
  });

  let endpoint = '';
  let cdnOrigin = '';
  const json = (res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}) =>
    res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(JSON.stringify(body));

  const hub = http.createServer((req, res) => {
    hubRequests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: Date.now() });
    if (hubRequests.length > maxRequests) return void res.writeHead(500).end('too many requests');
    const u = new URL(req.url ?? '/', endpoint);
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let type: 'dataset' | 'model' = 'model';
    let api = false;
    if (parts[0] === 'api') {
      api = true;
      type = parts[1] === 'datasets' ? 'dataset' : 'model';
      parts.splice(0, 2);
    } else if (parts[0] === 'datasets') {
      type = 'dataset';
      parts.shift();
    }
    const id = `${parts[0]}/${parts[1]}`;
    const repo = repos.find((r) => r.type === type && r.id === id);
    if (!repo) return void json(res, 401, { error: 'Repository not found' });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return void json(res, 401, { error: 'Access to this repository is restricted' });
    }
    const refs = repo.refs ?? { main: repo.sha };
    const [, , verb, rev, ...rest] = parts;
    const sha = rev === repo.sha ? repo.sha : refs[rev];
    if (!sha) return void json(res, 404, { error: `Revision not found: ${rev}` });
    if (api && verb === 'revision') return void json(res, 200, { id, sha });
    if (api && verb === 'tree') {
      const dirs = new Set<string>();
      for (const f of repo.files) {
        const segs = f.path.split('/');
        for (let i = 1; i < segs.length; i++) dirs.add(segs.slice(0, i).join('/'));
      }
      const entries = [
        ...[...dirs].map((p) => ({ type: 'directory', oid: '0'.repeat(40), size: 0, path: p })),
        ...repo.files.map((f) => ({
          type: 'file',
          oid: f.lfs ? gitBlob(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(f.data)}\n`)) : gitBlob(f.data),
          size: f.data.length,
          path: f.path,
          ...(f.lfs ? { lfs: { oid: sha256(f.data), size: f.data.length, pointerSize: 134 } } : {}),
        })),
      ];
      const cursor = Number(u.searchParams.get('cursor') ?? 0);
      const page = entries.slice(cursor, cursor + pageSize);
      const extra: http.OutgoingHttpHeaders = {};
      if (cursor + pageSize < entries.length) {
        const next = new URL(u.href);
        next.searchParams.set('cursor', String(cursor + pageSize));
        extra.link = `<${next.href}>; rel="next"`;
      }
      return void json(res, 200, page, extra);
    }
    if (!api && verb === 'resolve') {
      const hit = byKey.get(`${repo.id}/${rest.join('/')}`);
      if (!hit) return void json(res, 404, { error: 'Entry not found' }, { 'x-repo-commit': sha });
      const fault = takeFault(hit.file, ['status']);
      if (fault) {
        const h: http.OutgoingHttpHeaders = fault.retryAfter ? { 'retry-after': fault.retryAfter } : {};
        return void json(res, fault.status, { error: 'try later' }, h);
      }
      const location = `${cdnOrigin}/blob/${encodeURIComponent(repo.id)}/${hit.file.path.split('/').map(encodeURIComponent).join('/')}`;
      return void res
        .writeHead(302, { location, 'x-repo-commit': sha, 'x-linked-etag': etagOf(repo.id, hit.file.path) })
        .end();
    }
    json(res, 404, { error: 'no such route' });
  });

  endpoint = await listen(hub);
  cdnOrigin = await listen(cdn);
  return {
    endpoint,
    cdnOrigin,
    hubRequests,
    cdnRequests,
    etagOf,
    async close() {
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}
