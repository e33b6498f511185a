/** `hf://` URIs: what they name, and the pinned URI of one file at one commit. */
import { usageError } from '../../core/errors.ts';
import type { RepoType } from '../../schemas/enums.ts';

export interface HubRef {
  repoType: RepoType;
  repoId: string;
  revision: string;
  glob?: string;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const isHubUri = (spec: string) => spec.startsWith('hf://');

export function parseHfUri(uri: string): HubRef {
  const bad = (why: string) =>
    usageError(
      `malformed hub URI "${uri}": ${why}`,
      'expected hf://datasets/ORG/NAME[@REVISION]/GLOB or hf://ORG/MODEL[@REVISION]',
    );
  if (!uri.startsWith('hf://')) throw bad('it must start with hf://');
  let rest = uri.slice('hf://'.length);
  let repoType: RepoType = 'model';
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

/**
 * `meap download`'s repository: the id is exactly ORG/NAME, with the revision given apart. Anything
 * else is refused: `not/a/valid/repo` would otherwise be the repository not/a and a path filter.
 */
export function repoRef(repoType: RepoType, repoId: string, revision: string): HubRef {
  const segs = repoId.split('/');
  if (segs.length !== 2 || !segs.every((s) => NAME_RE.test(s))) {
    throw usageError(`"${repoId}" is not a repository id`, 'expected ORG/NAME, e.g. cerebras/SlimPajama-627B; choose a revision with --revision and files with --include');
  }
  return parseHfUri(`hf://${repoType === 'dataset' ? 'datasets/' : ''}${repoId}@${encodeURIComponent(revision)}`);
}

export function fileUri(ref: HubRef, sha: string, p: string): string {
  return `hf://${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}@${sha}/${p}`;
}

export function repoLabel(ref: HubRef): string {
  return `hf://${ref.repoType === 'dataset' ? 'datasets/' : ''}${ref.repoId}`;
}

export const apiKind = (ref: HubRef) => (ref.repoType === 'dataset' ? 'datasets' : 'models');
export const encodePath = (p: string) => p.split('/').map(encodeURIComponent).join('/');
