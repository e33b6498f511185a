/**
 * Inputs from anywhere: local paths, directories and globs, and `hf://datasets/ORG/NAME[@REV]/GLOB`
 * hub inputs, which are downloaded into the cache first and then read as local files. A hub
 * input's path in the manifest is `hf://datasets/ORG/NAME@SHA/PATH`, pinned to the commit.
 *
 * Tested through the CLI, where it joins local and hub inputs: test/e2e/prepare.test.ts (local
 * inputs) and test/e2e/hub-cli.test.ts (hub inputs against a fake hub, pinned paths in the manifest).
 */
import { stat } from 'node:fs/promises';
import { MeapError } from '../core/errors.ts';
import type { InputFormat } from '../schemas/enums.ts';
import { download } from './hub/download.ts';
import type { HubOptions } from './hub/http.ts';
import { isHubUri, parseHfUri } from './hub/uri.ts';
import { detectFormat, refuseCompressionTwins, resolveInputs } from './inputs.ts';
import type { InputFile, SkippedFile } from './types.ts';

/** The files to read, in input order, and those the inputs' directories and globs held that are not read. */
export async function resolveSources(specs: string[], o: { format?: InputFormat; hub?: HubOptions }): Promise<{ files: InputFile[]; skipped: SkippedFile[] }> {
  const local = specs.filter((s) => !isHubUri(s));
  const { files, skipped } = local.length > 0 ? await resolveInputs(local, { format: o.format }) : { files: [], skipped: [] as SkippedFile[] };
  const hubFiles: InputFile[] = [];
  for (const spec of specs.filter(isHubUri)) {
    const ref = parseHfUri(spec);
    if (ref.repoType !== 'dataset') throw new MeapError('usage', `${spec}: inputs must be datasets (hf://datasets/ORG/NAME/GLOB)`);
    const got = await download(ref, o.hub ?? {});
    for (const f of got.files) {
      const format = o.format ?? detectFormat(f.path);
      const size = (await stat(f.local)).size;
      // README.md, .gitattributes and the like, matched by a broad glob
      if (format === undefined) skipped.push({ file: f.uri, size, reason: 'noInputExtension' });
      else hubFiles.push({ abs: f.local, rel: f.uri, format, size });
    }
  }
  const seen = new Set<string>();
  const byRel = (a: { rel: string }, b: { rel: string }) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel));
  const hub = hubFiles.filter((f) => !seen.has(f.rel) && seen.add(f.rel)).sort(byRel);
  refuseCompressionTwins(hub);
  const all = [...files, ...hub].sort(byRel);
  if (all.length === 0) throw new MeapError('usage', `no input files in ${specs.join(', ')}`);
  return { files: all, skipped: [...new Map(skipped.map((s) => [s.file, s])).values()] };
}

